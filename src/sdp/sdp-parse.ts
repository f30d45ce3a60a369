/**
 * Parses an SDP session description (RFC 4566) into the typed view of types.ts.
 *
 *   session-description = "v=0" CRLF  origin-field  session-name-field  [information-field] [uri-field]
 *                         *email-field *phone-field [connection-field] *bandwidth-field 1*time-fields
 *                         [key-field] *attribute-field  *media-description
 *   media-description   = "m=" media SP port ["/" integer] SP proto 1*(SP fmt) CRLF
 *                         [information-field] *connection-field *bandwidth-field [key-field] *attribute-field
 *
 * Lenient where real stacks deviate harmlessly (LF line ends, blank lines, field order, s= and t= missing, unknown
 * lines and attributes are ignored); strict where a mistake would misroute media (v=, o=, m=, c=, and the rtpmap,
 * fmtp and ptime attributes we act on). Every rejection is an SdpError, so the SIP layer can answer 400/488 rather
 * than crash on a hostile body.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { SdpError } from './sdp-error.js';
import { staticPayloadType } from './rtp-payload-types.js';
import { isSdpDirection } from './sdp-direction.js';
import { parseCrypto, type SdpCrypto } from './sdp-crypto.js';
import type { ParsedSdp, SdpConnection, SdpDirection, SdpMedia, SdpOrigin, SdpPayloadType } from './types.js';

interface RtpMap {
  readonly encodingName: string;
  readonly clockRate: number;
  readonly channels: number | undefined;
}

interface MediaBuilder {
  readonly line: number;
  readonly media: string;
  readonly port: number;
  readonly portCount: number | undefined;
  readonly protocol: string;
  readonly formats: readonly string[];
  connection: SdpConnection | undefined;
  direction: SdpDirection | undefined;
  ptime: number | undefined;
  readonly rtpmaps: Map<number, RtpMap>;
  readonly fmtps: Map<string, string>;
  readonly crypto: SdpCrypto[];
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
const INTEGER = /^[0-9]{1,10}$/;

function fail(message: string, line: number): never {
  throw new SdpError('malformed', message, line);
}

function fields(value: string): string[] {
  const trimmed = value.trim();
  return trimmed === '' ? [] : trimmed.split(/[ \t]+/);
}

/** o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 4566 §5.2) */
function parseOrigin(value: string, line: number): SdpOrigin {
  const parts = fields(value);
  const [username, sessionId, sessionVersion, , addressType, address] = parts;
  if (parts.length !== 6 || username === undefined || sessionId === undefined || sessionVersion === undefined ||
      addressType === undefined || address === undefined) {
    fail('o= needs six fields', line);
  }
  return { username, sessionId, sessionVersion, addressType, address };
}

/** c=<nettype> <addrtype> <connection-address>, the address possibly followed by /ttl[/count] (RFC 4566 §5.7) */
function parseConnection(value: string, line: number): SdpConnection {
  const parts = fields(value);
  const [netType, addressType, rawAddress] = parts;
  if (parts.length !== 3 || netType === undefined || addressType === undefined || rawAddress === undefined) {
    fail('c= needs three fields', line);
  }
  if (netType !== 'IN') throw new SdpError('invalid_value', `c= network type ${JSON.stringify(netType)} is not IN`, line);
  if (addressType !== 'IP4' && addressType !== 'IP6') {
    throw new SdpError('invalid_value', `c= address type ${JSON.stringify(addressType)} is not IP4 or IP6`, line);
  }
  const address = rawAddress.split('/')[0] ?? '';
  const literal = addressType === 'IP4' ? isIPv4(address) : isIPv6(address);
  const otherFamily = addressType === 'IP4' ? isIPv6(address) : isIPv4(address);
  if (!literal && (otherFamily || !HOST_NAME.test(address))) {
    throw new SdpError('invalid_value', `c= address ${JSON.stringify(address)} is not a valid ${addressType} address`, line);
  }
  return { addressType, address };
}

/** m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 4566 §5.14) */
function parseMediaLine(value: string, line: number): MediaBuilder {
  const parts = fields(value);
  const [media, portText, protocol, ...formats] = parts;
  if (media === undefined || portText === undefined || protocol === undefined || formats.length === 0) {
    fail('m= needs media, port, protocol and at least one format', line);
  }
  if (!TOKEN.test(media) || !TOKEN.test(protocol.replace(/\//g, ''))) fail('m= media or protocol is not a token', line);
  const portMatch = /^([0-9]{1,5})(?:\/([0-9]{1,5}))?$/.exec(portText);
  const port = Number(portMatch?.[1]);
  if (portMatch === null || port > 65535) fail(`m= port ${JSON.stringify(portText)} is invalid`, line);
  const portCount = portMatch[2] === undefined ? undefined : Number(portMatch[2]);
  if (portCount === 0) fail('m= port count must not be 0', line);

  if (isRtp(protocol)) {
    for (const format of formats) {
      if (!/^[0-9]{1,3}$/.test(format) || Number(format) > 127) {
        fail(`m= format ${JSON.stringify(format)} is not an RTP payload type (0-127)`, line);
      }
    }
  }
  return {
    line,
    media,
    port,
    portCount,
    protocol,
    formats,
    connection: undefined,
    direction: undefined,
    ptime: undefined,
    rtpmaps: new Map(),
    fmtps: new Map(),
    crypto: [],
  };
}

/** RTP/AVP, RTP/SAVP, RTP/AVPF, UDP/TLS/RTP/SAVPF, ...: their fmt list is payload type numbers (RFC 4566 §5.14). */
function isRtp(protocol: string): boolean {
  return protocol.toUpperCase().split('/').includes('RTP');
}

/** a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>] (RFC 4566 §6) */
function parseRtpMap(value: string, line: number): [number, RtpMap] {
  const match = /^([0-9]{1,3})[ \t]+([^\s/]+)\/([0-9]{1,10})(?:\/([^\s/]+))?[ \t]*$/.exec(value);
  const payloadType = Number(match?.[1]);
  const clockRate = Number(match?.[3]);
  if (match === null || payloadType > 127 || clockRate === 0) fail(`a=rtpmap:${value} is malformed`, line);
  const encodingName = match[2] ?? '';
  const parameters = match[4];
  // For audio the encoding parameter is the channel count; for other media it has no defined meaning to us.
  const channels = parameters !== undefined && INTEGER.test(parameters) ? Number(parameters) : undefined;
  return [payloadType, { encodingName, clockRate, channels }];
}

/** a=fmtp:<format> <format specific parameters> (RFC 4566 §6) */
function parseFmtp(value: string, line: number): [string, string] {
  const match = /^([^\s]+)(?:[ \t]+(.*))?$/.exec(value);
  if (match === null || match[1] === undefined) fail(`a=fmtp:${value} is malformed`, line);
  return [match[1], (match[2] ?? '').trim()];
}

/** a=ptime:<packet time> in milliseconds; fractions are allowed (RFC 4566 §6). */
function parsePtime(value: string, line: number): number {
  const trimmed = value.trim();
  const ptime = Number(trimmed);
  if (!/^[0-9]{1,6}(?:\.[0-9]{1,6})?$/.test(trimmed) || ptime <= 0) fail(`a=ptime:${value} is malformed`, line);
  return ptime;
}

function buildMedia(builder: MediaBuilder, index: number, session: SdpConnection | undefined, sessionDirection: SdpDirection | undefined): SdpMedia {
  const connection = builder.connection ?? session;
  // RFC 4566 §5.7: c= at session level or in every media description. A disabled stream has nowhere to send to.
  if (connection === undefined && builder.port !== 0) {
    throw new SdpError('missing_field', `m=${builder.media} has no c= line and the session has none`, builder.line);
  }
  const payloadTypes: SdpPayloadType[] = [];
  let telephoneEvent: number | undefined;
  if (isRtp(builder.protocol)) {
    const seen = new Set<number>();
    for (const format of builder.formats) {
      const payloadType = Number(format);
      if (seen.has(payloadType)) continue;
      seen.add(payloadType);
      const mapped = builder.rtpmaps.get(payloadType) ?? staticPayloadType(payloadType);
      if (mapped === undefined) continue;
      payloadTypes.push({
        payloadType,
        encodingName: mapped.encodingName,
        clockRate: mapped.clockRate,
        channels: mapped.channels,
        fmtp: builder.fmtps.get(format),
      });
      if (telephoneEvent === undefined && mapped.encodingName.toLowerCase() === 'telephone-event' && mapped.clockRate === 8000) {
        telephoneEvent = payloadType;
      }
    }
  }
  return {
    index,
    media: builder.media,
    port: builder.port,
    portCount: builder.portCount,
    protocol: builder.protocol,
    formats: builder.formats,
    connection,
    direction: builder.direction ?? sessionDirection ?? 'sendrecv',
    ptime: builder.ptime,
    payloadTypes,
    telephoneEvent,
    crypto: builder.crypto,
  };
}

export function parseSdp(text: string): ParsedSdp {
  if (typeof text !== 'string') throw new SdpError('malformed', 'SDP must be text');
  const lines = text.split(/\r?\n/);
  let origin: SdpOrigin | undefined;
  let sessionName = '';
  let connection: SdpConnection | undefined;
  let timing: { start: string; stop: string } | undefined;
  let sessionDirection: SdpDirection | undefined;
  const builders: MediaBuilder[] = [];
  let current: MediaBuilder | undefined;
  let sawVersion = false;

  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    // Trailing line ends and the odd blank line are common and harmless.
    if (raw.trim() === '') continue;
    if (raw.length < 2 || raw[1] !== '=' || !/^[A-Za-z]$/.test(raw[0] ?? '')) fail('expected <type>=<value>', line);
    if (/[\r\0]/.test(raw)) fail('stray CR or NUL', line);
    const type = raw[0];
    const value = raw.slice(2);

    if (!sawVersion) {
      if (type !== 'v' || value.trim() !== '0') fail('an SDP must start with v=0', line);
      sawVersion = true;
      continue;
    }

    switch (type) {
      case 'v':
        fail('v= appears twice', line);
        break;
      case 'o':
        if (origin !== undefined || current !== undefined) fail('o= must appear once, before any m=', line);
        origin = parseOrigin(value, line);
        break;
      case 's':
        if (current === undefined) sessionName = value;
        break;
      case 't':
        if (current === undefined && timing === undefined) {
          const [start, stop, ...rest] = fields(value);
          if (start === undefined || stop === undefined || rest.length > 0 || !INTEGER.test(start) || !INTEGER.test(stop)) {
            fail('t= needs two integers', line);
          }
          timing = { start, stop };
        }
        break;
      case 'c':
        if (current === undefined) connection = parseConnection(value, line);
        // Several c= in one media section mean layered multicast; the first is the one unicast peers use.
        else current.connection ??= parseConnection(value, line);
        break;
      case 'm':
        current = parseMediaLine(value, line);
        builders.push(current);
        break;
      case 'a': {
        const colon = value.indexOf(':');
        const name = colon === -1 ? value.trim() : value.slice(0, colon);
        const attrValue = colon === -1 ? '' : value.slice(colon + 1);
        if (isSdpDirection(name)) {
          if (current === undefined) sessionDirection = name;
          else current.direction = name;
        } else if (current !== undefined) {
          if (name === 'rtpmap') {
            const [payloadType, map] = parseRtpMap(attrValue, line);
            current.rtpmaps.set(payloadType, map);
          } else if (name === 'fmtp') {
            const [format, parameters] = parseFmtp(attrValue, line);
            current.fmtps.set(format, parameters);
          } else if (name === 'ptime') {
            current.ptime = parsePtime(attrValue, line);
          } else if (name === 'crypto') {
            // RFC 4568 §5.1.2: a crypto line the answerer cannot use is ignored, not fatal to the offer.
            try {
              current.crypto.push(parseCrypto(attrValue));
            } catch {
              // Left out.
            }
          }
        }
        break;
      }
      default:
        // i=, u=, e=, p=, b=, z=, k=, r= and unknown types carry nothing we act on.
        break;
    }
  }

  if (!sawVersion) throw new SdpError('missing_field', 'SDP is empty');
  if (origin === undefined) throw new SdpError('missing_field', 'SDP has no o= line');
  const media = builders.map((builder, index) => buildMedia(builder, index, connection, sessionDirection));
  return {
    origin,
    sessionName,
    connection,
    timing: timing ?? { start: '0', stop: '0' },
    direction: sessionDirection,
    media,
    audio: media.find((m) => m.media === 'audio'),
  };
}
