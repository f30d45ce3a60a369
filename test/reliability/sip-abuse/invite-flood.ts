import { bindUdp, closeUdp, header, readReply, request, token, type Endpoint } from './wire.js';

/**
 * An INVITE flood from one source address: `count` new INVITEs (each its own Call-ID and branch), sent in batches at
 * `perSecond`, never retransmitted. Every final response is ACKed as RFC 3261 §17.1.1.3 asks of any UAC (so the
 * server's transactions end at Timer I, not at Timer H), and counted by status: the first final per Call-ID.
 */
export interface FloodFigures {
  readonly sent: number;
  /** Final status → how many INVITEs got it. */
  readonly finals: ReadonlyMap<number, number>;
  /** 503s that carried a Retry-After of whole seconds. */
  readonly retryAfter: number;
  /** From the first INVITE sent to the last final response received: every request was taken within it. */
  readonly windowMs: number;
}

const BATCH_MS = 20;
const QUIET_MS = 3_000;

export async function floodInvites(options: {
  readonly from: string;
  readonly server: Endpoint;
  readonly to: string;
  readonly count: number;
  readonly perSecond: number;
  /** How long to wait for the last answers after the last INVITE (a busy server works through its backlog). */
  readonly settleMs: number;
}): Promise<FloodFigures> {
  const socket = await bindUdp(options.from);
  const { address, port } = socket.address();
  const finals = new Map<string, number>();
  let retryAfter = 0;
  let lastAnswerAt = 0;
  const uri = `sip:${options.to}@${options.server.address}:${options.server.port}`;
  socket.on('message', (data) => {
    const reply = readReply(data);
    if (!reply || reply.status < 200) return;
    const callId = header(reply, 'call-id') ?? '';
    const via = header(reply, 'via') ?? '';
    const to = header(reply, 'to') ?? '';
    const ack = request(`ACK ${uri} SIP/2.0`, [
      `Via: ${via}`,
      'Max-Forwards: 70',
      `From: ${header(reply, 'from') ?? ''}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      `CSeq: ${(header(reply, 'cseq') ?? '1').split(/\s+/)[0]} ACK`,
    ]);
    socket.send(ack, options.server.port, options.server.address);
    if (finals.has(callId)) return;
    finals.set(callId, reply.status);
    lastAnswerAt = performance.now();
    if (reply.status === 503 && /^\d+$/.test(header(reply, 'retry-after') ?? '')) retryAfter += 1;
  });
  const invite = (n: number): Buffer => {
    const tag = token(4);
    return request(`INVITE ${uri} SIP/2.0`, [
      `Via: SIP/2.0/UDP ${address}:${port};branch=z9hG4bKflood${n}x${token(4)};rport`,
      'Max-Forwards: 70',
      `From: <sip:flood@${address}>;tag=${tag}`,
      `To: <${uri}>`,
      `Call-ID: flood-${n}-${tag}@${address}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:flood@${address}:${port}>`,
    ]);
  };
  const started = performance.now();
  const perBatch = Math.max(1, Math.round((options.perSecond * BATCH_MS) / 1000));
  let sent = 0;
  while (sent < options.count) {
    const due = Math.min(options.count, Math.ceil(((performance.now() - started) / BATCH_MS + 1) * perBatch));
    for (; sent < due; sent++) socket.send(invite(sent), options.server.port, options.server.address);
    await new Promise((resolve) => setTimeout(resolve, BATCH_MS));
  }
  // Until every INVITE is answered, or nothing more has come for QUIET_MS (the rest never reached the server: the
  // kernel dropped them from a full receive buffer), or settleMs at most.
  const deadline = performance.now() + options.settleMs;
  const sentAt = performance.now();
  while (finals.size < sent && performance.now() < deadline && performance.now() - Math.max(lastAnswerAt, sentAt) < QUIET_MS) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // A moment for the last ACKs to leave.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await closeUdp(socket);
  const byStatus = new Map<number, number>();
  for (const status of finals.values()) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  return { sent, finals: byStatus, retryAfter, windowMs: Math.max(lastAnswerAt, started) - started };
}
