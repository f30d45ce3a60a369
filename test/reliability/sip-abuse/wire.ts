import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/**
 * The few pieces of SIP and RTP the abuse test writes and reads itself, as a carrier or an attacker on the wire
 * would: text requests, a response's status and headers. Written here rather than taken from the server's own parser,
 * so what the server sends is read by something it did not make.
 */

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export async function bindUdp(address: string, port = 0): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

export function closeUdp(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

export const token = (bytes = 6): string => randomBytes(bytes).toString('hex');

/** A request's text: start line, headers, the empty line, then the body with its Content-Length. */
export function request(startLine: string, headers: readonly string[], body = '', contentType?: string): Buffer {
  const lines = [startLine, ...headers];
  if (contentType) lines.push(`Content-Type: ${contentType}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

export interface SipReply {
  readonly status: number;
  /** Header values by lower-case name, compact forms expanded, in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: string;
  readonly text: string;
}

const COMPACT: Readonly<Record<string, string>> = { i: 'call-id', f: 'from', t: 'to', v: 'via', m: 'contact', l: 'content-length', c: 'content-type' };

/** A SIP response's status, headers and body; undefined for anything else (a request, garbage). */
export function readReply(data: Buffer): SipReply | undefined {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [startLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = /^SIP\/2\.0 (\d{3}) /.exec(startLine ?? '');
  if (!status) return undefined;
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const raw = line.slice(0, colon).trim().toLowerCase();
    const name = COMPACT[raw] ?? raw;
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(status[1]), headers, body: text.slice(end + 4), text };
}

export const header = (reply: SipReply, name: string): string | undefined => reply.headers.get(name)?.[0];

/** The audio address an SDP body names (c= and the first m=audio). */
export function sdpAudio(body: string): Endpoint | undefined {
  const address = /^c=IN IP4 (\S+)/m.exec(body)?.[1];
  const port = /^m=audio (\d+) /m.exec(body)?.[1];
  return address && port ? { address, port: Number(port) } : undefined;
}

/** The URI inside a Contact (or any name-addr) value. */
export function uriOf(nameAddr: string): string {
  return /<([^>]+)>/.exec(nameAddr)?.[1] ?? nameAddr.split(';')[0]!.trim();
}

export type Listener = (data: Buffer, from: RemoteInfo) => void;

/** An RFC 3550 header (no CSRC, no extension) in front of a payload. */
export function rtpPacket(payloadType: number, sequence: number, timestamp: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | payloadType;
  header.writeUInt16BE(sequence & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}

/** The payload of an RTP packet (version 2, CSRCs and header extension skipped); undefined for anything else. */
export function rtpPayload(data: Buffer): { payloadType: number; payload: Buffer } | undefined {
  if (data.length < 12 || data[0]! >> 6 !== 2) return undefined;
  const payloadType = data[1]! & 0x7f;
  // RTCP shares the version bits; its packet types (200-204) read as payload types 72-76 with the marker set.
  if (payloadType >= 72 && payloadType <= 76) return undefined;
  let offset = 12 + (data[0]! & 0x0f) * 4;
  if (data[0]! & 0x10) offset += 4 + data.readUInt16BE(offset + 2) * 4;
  return offset <= data.length ? { payloadType, payload: data.subarray(offset) } : undefined;
}
