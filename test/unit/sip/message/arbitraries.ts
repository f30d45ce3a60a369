// fast-check arbitraries for well-formed SIP values, and the Content-Length normalisation that serializeMessage
// applies (so that parse(serialize(m)) can be compared with m).
import fc from 'fast-check';
import { formatUri } from '../../../../src/sip/message/headers.js';
import type { NameAddr, SipHeader, SipMessage, SipParams, SipUri, Via } from '../../../../src/sip/message/types.js';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = LOWER + LOWER.toUpperCase() + DIGITS;
const TOKEN_EXTRA = "-.!%*_+`'~";

// fc.record builds null-prototype objects; the parsers return plain ones, and deepStrictEqual compares prototypes.
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const chars = (set: string): fc.Arbitrary<string> => fc.constantFrom(...set);

export const tokenArb = fc.string({ unit: chars(ALNUM + TOKEN_EXTRA), minLength: 1, maxLength: 10 });
const lowerTokenArb = fc.string({ unit: chars(LOWER + DIGITS + TOKEN_EXTRA), minLength: 1, maxLength: 10 });

/** Printable text with the awkward bits: quotes, backslashes, separators, UTF-8 of 2-4 bytes, a BOM. */
const textChar = fc.oneof(
  { weight: 6, arbitrary: chars(ALNUM + ' -_.') },
  { weight: 3, arbitrary: chars('!"#$%&\'()*+,/:;<=>?@[\\]^`{|}~\t') },
  { weight: 1, arbitrary: chars('é大停電😀\uFEFFж') },
);
const controlChar = chars('\u0000\u0001\u0007\u001f\u007f');

/** Any text without CR or LF, as a header value or display name may hold. */
export const lineTextArb = fc.string({ unit: fc.oneof({ weight: 20, arbitrary: textChar }, { weight: 1, arbitrary: controlChar }), maxLength: 40 });

/** Text for URI components: anything at all, since formatUri escapes what needs escaping. */
const componentArb = fc.string({ unit: fc.oneof(textChar, controlChar, chars('\r\n')), maxLength: 16 });

const label = fc
  .tuple(chars(LOWER), fc.string({ unit: chars(LOWER + DIGITS + '-'), maxLength: 8 }), chars(LOWER + DIGITS))
  .map(([a, mid, z]) => a + mid + z);
const hostnameArb = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
const ipv4Arb = fc.ipV4();
const ipv6RefArb = fc.ipV6().map((address) => `[${address}]`);
export const hostArb = fc.oneof({ weight: 4, arbitrary: hostnameArb }, { weight: 1, arbitrary: ipv4Arb }, { weight: 1, arbitrary: ipv6RefArb });
const portArb = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });

const uriParamsArb: fc.Arbitrary<SipParams> = fc.array(
  fc.tuple(
    componentArb.map((s) => s.toLowerCase()).filter((s) => s !== '' && s === s.toLowerCase()),
    fc.option(componentArb, { nil: null }),
  ),
  { maxLength: 4 },
);

export const sipUriArb = (withHeaders = true): fc.Arbitrary<SipUri> =>
  record({
      scheme: fc.constantFrom('sip' as const, 'sips' as const),
      user: fc.option(componentArb.filter((s) => s !== ''), { nil: undefined }),
      password: fc.option(componentArb, { nil: undefined }),
      host: hostArb,
      port: portArb,
      params: uriParamsArb,
      headers: withHeaders
        ? fc.array(fc.tuple(componentArb.filter((s) => s !== ''), componentArb), { maxLength: 3 })
        : fc.constant([]),
    })
    .map((u) => (u.user === undefined ? { ...u, password: undefined } : u));

const telUriArb: fc.Arbitrary<SipUri> = record({
    number: fc.oneof(
      fc.string({ unit: chars(DIGITS + '-.()'), maxLength: 12 }).map((s) => `+1${s}`),
      fc.string({ unit: chars(DIGITS + 'ABCDEF*#-'), maxLength: 8 }).map((s) => `7${s}`),
    ),
    params: uriParamsArb,
  })
  .map(({ number, params }) => ({ scheme: 'tel', user: undefined, password: undefined, host: number, port: undefined, params, headers: [] }));

export const uriArb: fc.Arbitrary<SipUri> = fc.oneof({ weight: 4, arbitrary: sipUriArb() }, { weight: 1, arbitrary: telUriArb });

/** A gen-value as held in SipParams: a token or a quoted-string with its quotes. */
const quotedArb = fc
  .string({ unit: textChar, maxLength: 12 })
  .map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`);
const genValueArb = fc.option(fc.oneof(tokenArb, quotedArb), { nil: null });
const headerParamsArb: fc.Arbitrary<SipParams> = fc.array(fc.tuple(lowerTokenArb, genValueArb), { maxLength: 4 });

export const nameAddrArb: fc.Arbitrary<NameAddr> = record({
  displayName: fc.option(lineTextArb, { nil: undefined }),
  uri: uriArb,
  params: headerParamsArb,
});

const VIA_SPECIAL = new Set(['received', 'rport', 'ttl', 'maddr', 'branch']);
export const viaArb: fc.Arbitrary<Via> = record({
    transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS', 'X-NEW'),
    host: hostArb,
    port: portArb,
    branch: fc.option(tokenArb.map((t) => `z9hG4bK${t}`), { nil: undefined }),
    received: fc.option(fc.oneof(ipv4Arb, fc.ipV6()), { nil: undefined }),
    rport: fc.option(fc.option(fc.integer({ min: 1, max: 65535 }).map(String), { nil: null }), { nil: undefined }),
    rest: fc.array(fc.tuple(lowerTokenArb.filter((n) => !VIA_SPECIAL.has(n)), genValueArb), { maxLength: 3 }),
  })
  .map(({ transport, host, port, branch, received, rport, rest }) => {
    const params: Array<readonly [string, string | null]> = [];
    if (branch !== undefined) params.push(['branch', branch]);
    if (received !== undefined) params.push(['received', received]);
    if (rport !== undefined) params.push(['rport', rport]);
    return { transport, host, port, params: [...params, ...rest] };
  });

const KNOWN_NAMES = ['Via', 'To', 'From', 'Call-ID', 'CSeq', 'Contact', 'Max-Forwards', 'Route', 'Record-Route', 'Subject',
  'Content-Type', 'WWW-Authenticate', 'Authorization', 'User-Agent', 'Supported', 'Allow', 'Date', 'Expires'];
const headerNameArb = fc.oneof(fc.constantFrom(...KNOWN_NAMES), tokenArb.map((t) => `X-${t}`));
/** A header value as the parser hands it out: one line, no outer SP/HTAB (inner ones are fine). */
const headerValueArb = lineTextArb.map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''));
export const headerArb: fc.Arbitrary<SipHeader> = record({ name: headerNameArb, value: headerValueArb });

const bodyArb = fc.uint8Array({ maxLength: 120 }).map((bytes) => Buffer.from(bytes));
const reasonArb = fc.string({ unit: fc.oneof(textChar, chars(' \t')), maxLength: 30 });

export const messageArb: fc.Arbitrary<SipMessage> = fc.oneof(
  record({
    kind: fc.constant('request' as const),
    method: tokenArb,
    uri: fc.oneof(sipUriArb(false), telUriArb).map(formatUri),
    headers: fc.array(headerArb, { maxLength: 12 }),
    body: bodyArb,
  }),
  record({
    kind: fc.constant('response' as const),
    status: fc.integer({ min: 100, max: 699 }),
    reason: reasonArb,
    headers: fc.array(headerArb, { maxLength: 12 }),
    body: bodyArb,
  }),
);

/** What serializeMessage does to Content-Length: the first one (or a new last one) carries the body length. */
export function normaliseContentLength(m: SipMessage): SipMessage {
  const length: SipHeader = { name: 'Content-Length', value: String(m.body.length) };
  const headers: SipHeader[] = [];
  let seen = false;
  for (const header of m.headers) {
    if (header.name.toLowerCase() !== 'content-length' && header.name.toLowerCase() !== 'l') headers.push(header);
    else if (!seen) headers.push(length);
    seen ||= header.name.toLowerCase() === 'content-length' || header.name.toLowerCase() === 'l';
  }
  if (!seen) headers.push(length);
  return { ...m, headers };
}
