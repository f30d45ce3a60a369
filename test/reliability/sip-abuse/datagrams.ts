import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { serializeMessage } from '../../../src/sip/message/serializer.js';
import { messageArb } from '../../unit/sip/message/arbitraries.js';
import { SIP_FIXTURES, sipFixture } from '../../unit/sip/message/fixtures.js';
import { request, token } from './wire.js';

/**
 * The malformed and mutated datagrams: the RFC 4475 torture messages (test/fixtures/sip/rfc4475, valid and invalid,
 * as they are), random mutations of valid requests addressed to the server under test (bytes flipped, cut short,
 * spans inserted or removed, header lines repeated, dropped or swapped, line ends changed, a header's value replaced
 * by junk, Content-Length lied about, two messages spliced), random structured messages, random bytes, and a few
 * near the 64 KiB datagram limit. Generated with fast-check from a seed, so a run can be replayed.
 */

export const TORTURE = readdirSync(`${SIP_FIXTURES}/rfc4475`)
  .filter((name) => name.endsWith('.dat'))
  .sort()
  .map((name) => ({ name, bytes: sipFixture(`rfc4475/${name}`) }));

export interface Templates {
  /** Where the server listens (its Request-URIs name it). */
  readonly server: string;
  /** A number of the account (INVITEs to it reach the invite gate, which refuses strangers). */
  readonly number: string;
  /** A REGISTER username that no device has: its failures must not count against the guessed device. */
  readonly registerUser: string;
}

/** Valid requests of every method the server handles, as a stranger's UDP phone would send them. */
export function validRequests(t: Templates): Buffer[] {
  const common = (method: string, uri: string, cseq = 1) => [
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${token(6)};rport`,
    'Max-Forwards: 70',
    `From: <sip:stranger@192.0.2.10>;tag=${token(4)}`,
    `To: <${uri}>`,
    `Call-ID: fuzz-${token(6)}@192.0.2.10`,
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:stranger@192.0.2.10:5060>',
  ];
  const invite = `sip:${t.number}@${t.server}`;
  const sdp = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n';
  const register = `sip:${t.server}`;
  const auth =
    `Authorization: Digest username="${t.registerUser}", realm="dialplane", nonce="${token(16)}", uri="${register}", ` +
    `response="${token(16)}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${token(4)}"`;
  return [
    request(`OPTIONS sip:${t.server} SIP/2.0`, common('OPTIONS', `sip:${t.server}`)),
    request(`INVITE ${invite} SIP/2.0`, common('INVITE', invite), sdp, 'application/sdp'),
    request(`REGISTER ${register} SIP/2.0`, [...common('REGISTER', `sip:${t.registerUser}@${t.server}`), 'Expires: 60']),
    request(`REGISTER ${register} SIP/2.0`, [...common('REGISTER', `sip:${t.registerUser}@${t.server}`), 'Expires: 60', auth]),
    request(`BYE ${invite} SIP/2.0`, common('BYE', invite, 2)),
    request(`CANCEL ${invite} SIP/2.0`, common('CANCEL', invite)),
    request(`ACK ${invite} SIP/2.0`, common('ACK', invite)),
    request(`MESSAGE ${invite} SIP/2.0`, common('MESSAGE', invite), 'hello', 'text/plain'),
    request(`SUBSCRIBE ${invite} SIP/2.0`, [...common('SUBSCRIBE', invite), 'Event: presence', 'Expires: 60']),
    request(`INFO ${invite} SIP/2.0`, common('INFO', invite, 3), 'Signal=5\r\nDuration=100\r\n', 'application/dtmf-relay'),
    request(`NOTIFY ${invite} SIP/2.0`, [...common('NOTIFY', invite), 'Event: dialog', 'Subscription-State: active']),
  ];
}

const JUNK = [
  '',
  ' ',
  '\u0000',
  '<<<<>>>>',
  ';;;;,,,,',
  '"unterminated',
  'SIP/2.0/UDP',
  '-1',
  '99999999999999999999',
  'sip:',
  'Digest',
  'a'.repeat(9_000),
  '%00%ff%',
  '大停電😀',
  '\u00ff\u00fe',
];

type Mutation = (bytes: Buffer) => Buffer;

const lines = (bytes: Buffer) => bytes.toString('latin1').split('\r\n');
const joined = (parts: string[]) => Buffer.from(parts.join('\r\n'), 'latin1');

/** One mutation of a message, drawn with its parameters. */
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    for (const [at, byte] of flips) copy[at % copy.length] = byte;
    return copy;
  }),
  fc.nat().map((cut) => (bytes: Buffer) => bytes.subarray(0, cut % (bytes.length + 1))),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, span]) => (bytes: Buffer) => {
    const i = at % (bytes.length + 1);
    return Buffer.concat([bytes.subarray(0, i), Buffer.from(span), bytes.subarray(i)]);
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([at, length]) => (bytes: Buffer) => {
    const i = at % (bytes.length + 1);
    return Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + length)]);
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 200 })).map(([at, times]) => (bytes: Buffer) => {
    const parts = lines(bytes);
    const i = 1 + (at % Math.max(1, parts.length - 1));
    return joined([...parts.slice(0, i), ...Array<string>(times).fill(parts[i] ?? 'Via: SIP/2.0/UDP x'), ...parts.slice(i)]);
  }),
  fc.nat().map((at) => (bytes: Buffer) => {
    const parts = lines(bytes);
    parts.splice(at % parts.length, 1);
    return joined(parts);
  }),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (bytes: Buffer) => {
    const parts = lines(bytes);
    const [i, j] = [a % parts.length, b % parts.length];
    [parts[i], parts[j]] = [parts[j]!, parts[i]!];
    return joined(parts);
  }),
  fc.constantFrom('\n', '\r', '\r\r\n', '\n\r', '').map((eol) => (bytes: Buffer) => Buffer.from(lines(bytes).join(eol), 'latin1')),
  fc.tuple(fc.nat(), fc.constantFrom(...JUNK)).map(([at, junk]) => (bytes: Buffer) => {
    const parts = lines(bytes);
    const i = 1 + (at % Math.max(1, parts.length - 1));
    const colon = parts[i]?.indexOf(':') ?? -1;
    if (colon > 0) parts[i] = `${parts[i]!.slice(0, colon + 1)} ${junk}`;
    else parts[0] = `${parts[0]} ${junk}`;
    return joined(parts);
  }),
  fc.constantFrom('-1', '0', '4294967296', '65536', 'x', '1 1', '', '100000000000').map((value) => (bytes: Buffer) =>
    Buffer.from(bytes.toString('latin1').replace(/^(Content-Length|l)\s*:[^\r\n]*/im, `Content-Length: ${value}`), 'latin1'),
  ),
  fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'FOO', 'invite', 'SIP/2.0', '').map((method) => (bytes: Buffer) =>
    Buffer.from(bytes.toString('latin1').replace(/^\S*/, method), 'latin1'),
  ),
);

/** `count` datagrams, each at most 65,507 octets (the largest UDP payload over IPv4). */
export function datagrams(templates: Templates, count: number, seed: number): Buffer[] {
  const valid = validRequests(templates);
  const corpus = [...valid, ...TORTURE.map((t) => t.bytes)];
  const base = fc.oneof(fc.constantFrom(...valid), fc.constantFrom(...corpus));
  const arb = fc.oneof(
    { weight: 24, arbitrary: fc.constantFrom(...TORTURE.map((t) => t.bytes)) },
    { weight: 160, arbitrary: fc.tuple(base, fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([bytes, mutations]) => mutations.reduce((b, m) => m(b), bytes)) },
    { weight: 24, arbitrary: fc.tuple(base, base, fc.nat(), fc.nat()).map(([a, b, i, j]) => Buffer.concat([a.subarray(0, i % a.length), b.subarray(j % b.length)])) },
    { weight: 24, arbitrary: messageArb.map((message) => serializeMessage(message)) },
    { weight: 16, arbitrary: fc.uint8Array({ maxLength: 1_500 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.tuple(base, fc.integer({ min: 200, max: 2_000 })).map(([bytes, times]) => {
      // Near the limit (about 1 in 250): hundreds or thousands of headers.
      const parts = lines(bytes);
      const filler = Array<string>(times).fill(`X-Filler: ${'f'.repeat(20)}`);
      return joined([parts[0]!, ...filler, ...parts.slice(1)]).subarray(0, 65_507);
    }) },
  );
  return fc.sample(arb, { numRuns: count, seed }).map((bytes) => (bytes.length > 65_507 ? bytes.subarray(0, 65_507) : bytes));
}
