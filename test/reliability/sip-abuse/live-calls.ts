import { randomBytes } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';
import { bindUdp, closeUdp, header, readReply, request, rtpPacket, rtpPayload, sdpAudio, token, uriOf, type Endpoint, type SipReply } from './wire.js';

/**
 * Live calls for the abuse test, with audio measured end to end. The carrier (this module, on the trunk's address)
 * calls a number that forwards through the trunk; SIPp on the trunk answers the forwarded leg with an SDP naming the
 * echo callee's port; Dialplane bridges the two. Each call's caller sends 50 packets a second, each payload carrying
 * the call and the packet's index; the callee hears them (caller -> Dialplane -> callee) and sends each back from its
 * own SSRC (callee -> Dialplane -> caller), so loss is counted on both paths by index, never inferred.
 */

const FRAME_MS = 20;
const PAYLOAD_BYTES = 160;
const MAGIC = 0x5a;
const T1_MS = 500;

/** A 160-octet PCMU payload: a marker, the call's index, the packet's index, then µ-law silence. */
function framePayload(call: number, index: number): Buffer {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0xff);
  payload[0] = MAGIC;
  payload[1] = call;
  payload.writeUInt32BE(index, 2);
  return payload;
}

function frameOf(payload: Buffer): { call: number; index: number } | undefined {
  if (payload.length < 6 || payload[0] !== MAGIC) return undefined;
  return { call: payload[1]!, index: payload.readUInt32BE(2) };
}

/** The callee's audio end: hears every bridged leg on one port and sends each frame back to the leg it came from. */
export class EchoCallee {
  /** call index → packet indices heard. */
  readonly heard = new Map<number, Set<number>>();
  private readonly streams = new Map<string, { ssrc: number; sequence: number }>();

  private constructor(private readonly socket: Socket) {
    socket.on('message', (data, from) => this.receive(data, from));
  }

  static async start(address: string, port: number): Promise<EchoCallee> {
    return new EchoCallee(await bindUdp(address, port));
  }

  get port(): number {
    return this.socket.address().port;
  }

  private receive(data: Buffer, from: RemoteInfo): void {
    const rtp = rtpPayload(data);
    if (!rtp || rtp.payloadType !== 0) return;
    const frame = frameOf(rtp.payload);
    if (!frame) return;
    let heard = this.heard.get(frame.call);
    if (!heard) this.heard.set(frame.call, (heard = new Set()));
    heard.add(frame.index);
    const key = `${from.address}:${from.port}`;
    let stream = this.streams.get(key);
    if (!stream) this.streams.set(key, (stream = { ssrc: randomBytes(4).readUInt32BE(0), sequence: 0 }));
    stream.sequence += 1;
    this.socket.send(rtpPacket(0, stream.sequence, data.readUInt32BE(4), stream.ssrc, rtp.payload), from.port, from.address);
  }

  close(): Promise<void> {
    return closeUdp(this.socket);
  }
}

export interface AudioFigures {
  readonly sent: number;
  /** Heard by the callee (caller -> callee). */
  readonly heard: number;
  /** Heard back by the caller (caller -> callee -> caller). */
  readonly echoed: number;
}

/** One carrier call into Dialplane: SIP over its own socket, RTP over another, both on the trunk's address. */
export class CarrierCall {
  private readonly callId = `abuse-live-${token(8)}@carrier`;
  private readonly fromTag = token(5);
  private toTag: string | undefined;
  private remoteTarget: string | undefined;
  private media: Endpoint | undefined;
  private sipServer: Endpoint;
  private cseq = 1;
  private sendTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  /** Index of the next frame to send. */
  private next = 0;
  readonly echoed = new Set<number>();
  private readonly waiters = new Set<(reply: SipReply) => void>();
  /** Requests Dialplane sent in the dialog (a BYE would mean the call was cut). */
  readonly requestsReceived: string[] = [];
  private readonly ssrc = randomBytes(4).readUInt32BE(0);

  private constructor(
    readonly index: number,
    private readonly sip: Socket,
    private readonly rtp: Socket,
    server: Endpoint,
  ) {
    this.sipServer = server;
    sip.on('message', (data, from) => this.onSip(data, from));
    rtp.on('message', (data) => {
      const payload = rtpPayload(data);
      const frame = payload && payload.payloadType === 0 ? frameOf(payload.payload) : undefined;
      if (frame?.call === index) this.echoed.add(frame.index);
    });
  }

  /** Calls `to` from `from`, and resolves once Dialplane answered (ACK sent) with the audio address of its answer. */
  static async place(index: number, options: { readonly bindAddress: string; readonly server: Endpoint; readonly from: string; readonly to: string }): Promise<CarrierCall> {
    const sip = await bindUdp(options.bindAddress);
    const rtp = await bindUdp(options.bindAddress);
    const call = new CarrierCall(index, sip, rtp, options.server);
    try {
      await call.invite(options.from, options.to);
    } catch (error) {
      await call.close();
      throw error;
    }
    return call;
  }

  private get local(): Endpoint {
    return this.sip.address();
  }

  private onSip(data: Buffer, from: RemoteInfo): void {
    const reply = readReply(data);
    if (!reply) {
      // A request inside the dialog (a BYE, a refresh): answered 200 and remembered.
      const text = data.toString('latin1');
      const method = /^([A-Z]+) /.exec(text)?.[1];
      if (!method) return;
      this.requestsReceived.push(method);
      if (method === 'ACK') return;
      const copy = (name: string) => text.split('\r\n').filter((line) => new RegExp(`^(${name})\\s*:`, 'i').test(line));
      const lines = [...copy('Via|v'), ...copy('From|f'), ...copy('To|t'), ...copy('Call-ID|i'), ...copy('CSeq')];
      this.sip.send(request('SIP/2.0 200 OK', lines), from.port, from.address);
      return;
    }
    for (const waiter of [...this.waiters]) waiter(reply);
  }

  /** Sends `message` until a final response of transaction `branch` comes (T1 doubling, Timer B's 64*T1 at most). */
  private transact(message: Buffer, branch: string, target: Endpoint): Promise<SipReply> {
    return new Promise((resolve, reject) => {
      let interval = T1_MS;
      let timer: NodeJS.Timeout;
      const giveUp = setTimeout(() => finish(new Error(`no final response to ${message.toString('latin1').split('\r\n')[0]}`)), 64 * T1_MS);
      const finish = (result: SipReply | Error) => {
        clearTimeout(timer);
        clearTimeout(giveUp);
        this.waiters.delete(waiter);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const waiter = (reply: SipReply) => {
        if (!header(reply, 'via')?.includes(branch)) return;
        if (reply.status >= 200) finish(reply);
        else clearTimeout(timer);
      };
      this.waiters.add(waiter);
      const send = () => {
        this.sip.send(message, target.port, target.address);
        timer = setTimeout(send, interval);
        interval = Math.min(interval * 2, 4_000);
      };
      send();
    });
  }

  private async invite(from: string, to: string): Promise<void> {
    const { address, port } = this.local;
    const rtpPort = this.rtp.address().port;
    const branch = `z9hG4bK${token(8)}`;
    const sdp = [
      'v=0',
      `o=carrier ${this.index + 1} 1 IN IP4 ${address}`,
      's=-',
      `c=IN IP4 ${address}`,
      't=0 0',
      `m=audio ${rtpPort} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15',
      'a=sendrecv',
      '',
    ].join('\r\n');
    const uri = `sip:${to}@${this.sipServer.address}:${this.sipServer.port}`;
    const invite = request(
      `INVITE ${uri} SIP/2.0`,
      [
        `Via: SIP/2.0/UDP ${address}:${port};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:${from}@${address}>;tag=${this.fromTag}`,
        `To: <${uri}>`,
        `Call-ID: ${this.callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:${from}@${address}:${port}>`,
      ],
      sdp,
      'application/sdp',
    );
    const answer = await this.transact(invite, branch, this.sipServer);
    this.toTag = /;\s*tag=([^;\s]+)/.exec(header(answer, 'to') ?? '')?.[1];
    this.remoteTarget = uriOf(header(answer, 'contact') ?? uri);
    this.media = sdpAudio(answer.body);
    // Every 2xx (and its retransmissions) gets its ACK.
    const ack = () => this.sip.send(this.inDialog('ACK', 1), this.sipServer.port, this.sipServer.address);
    ack();
    this.waiters.add((reply) => {
      if (reply.status >= 200 && reply.status < 300 && header(reply, 'cseq')?.endsWith('INVITE')) ack();
    });
    if (answer.status !== 200 || !this.toTag || !this.media) {
      throw new Error(`call ${this.index} not answered with an SDP: ${answer.text.split('\r\n')[0]}`);
    }
  }

  private inDialog(method: string, cseq: number, branch = `z9hG4bK${token(8)}`): Buffer {
    const { address, port } = this.local;
    return request(`${method} ${this.remoteTarget} SIP/2.0`, [
      `Via: SIP/2.0/UDP ${address}:${port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:carrier@${address}>;tag=${this.fromTag}`,
      `To: <${this.remoteTarget}>;tag=${this.toTag}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
    ]);
  }

  /** Starts the caller's audio: a frame every 20 ms by the clock, late timers catching up. */
  startAudio(): void {
    const media = this.media!;
    this.startedAt = performance.now();
    const tick = () => {
      const due = Math.floor((performance.now() - this.startedAt) / FRAME_MS) + 1;
      for (; this.next < due; this.next++) {
        const packet = rtpPacket(0, this.next, this.next * 160, this.ssrc, framePayload(this.index, this.next), this.next === 0);
        this.rtp.send(packet, media.port, media.address);
      }
    };
    tick();
    this.sendTimer = setInterval(tick, FRAME_MS);
  }

  /** The index of the next frame: a window of frames is [mark, mark) of two calls. */
  mark(): number {
    return this.next;
  }

  stopAudio(): void {
    clearInterval(this.sendTimer);
    this.sendTimer = undefined;
  }

  /** Frames sent in [from, to), heard by the callee, and heard back. */
  figures(callee: EchoCallee, from: number, to: number): AudioFigures {
    const heardSet = callee.heard.get(this.index) ?? new Set<number>();
    let heard = 0;
    let echoed = 0;
    for (let i = from; i < to; i++) {
      if (heardSet.has(i)) heard += 1;
      if (this.echoed.has(i)) echoed += 1;
    }
    return { sent: to - from, heard, echoed };
  }

  /** Hangs up (BYE until its 200). */
  async hangUp(): Promise<number> {
    this.stopAudio();
    this.cseq += 1;
    const branch = `z9hG4bK${token(8)}`;
    const reply = await this.transact(this.inDialog('BYE', this.cseq, branch), branch, this.sipServer);
    return reply.status;
  }

  async close(): Promise<void> {
    this.stopAudio();
    await Promise.all([closeUdp(this.sip), closeUdp(this.rtp)]);
  }
}
