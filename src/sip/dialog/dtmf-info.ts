/**
 * Keys signalled by SIP INFO, as phones and carriers send them (no RFC defines these bodies; both are de facto):
 *
 *   Content-Type: application/dtmf-relay        Content-Type: application/dtmf
 *   Signal=5                                    5
 *   Duration=160
 */
const KEYS = /^[0-9*#A-D]$/;

/** The key in an INFO body; null for a body of a known type without a key; undefined for a type we do not read. */
export function dtmfFromInfo(contentType: string | undefined, body: Buffer): string | null | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  let key: string | undefined;
  if (type === 'application/dtmf-relay') {
    key = /^\s*signal\s*=\s*(\S+)/im.exec(text)?.[1];
  } else if (type === 'application/dtmf') {
    key = text.trim();
  } else {
    return undefined;
  }
  if (key === undefined) return null;
  // Some phones send the events' numbers (RFC 4733: 10 is *, 11 is #).
  const mapped = key === '10' ? '*' : key === '11' ? '#' : key.toUpperCase();
  return KEYS.test(mapped) ? mapped : null;
}
