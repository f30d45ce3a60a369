/**
 * WWW-Authenticate / Proxy-Authenticate challenges and Authorization / Proxy-Authorization credentials
 * (RFC 3261 §20.7, §20.27, §20.44; RFC 2617 / RFC 7616 syntax):
 *
 *   challenge   = auth-scheme LWS auth-param *( COMMA auth-param )
 *   auth-param  = auth-param-name EQUAL ( token / quoted-string )
 *
 * Parameter names are case-insensitive and returned lower-cased; quoted values are returned unquoted.
 */
import { fail, guard, inSet, isToken, isWsp, quote, readQuoted, skipWsp, TOKEN_CHARS } from './syntax.js';

export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses a challenge (or, the syntax being the same, credentials) header value. */
export function parseAuthChallenge(value: string): AuthChallenge {
  return guard('authentication header', () => {
    const s = value;
    let i = skipWsp(s, 0);
    const schemeEnd = readToken(s, i);
    if (schemeEnd === i) fail('missing authentication scheme');
    const scheme = s.slice(i, schemeEnd);
    const params: Record<string, string> = {};
    i = skipWsp(s, schemeEnd);
    if (i < s.length && i === schemeEnd) fail('authentication scheme must be followed by whitespace');
    while (i < s.length) {
      const nameEnd = readToken(s, i);
      if (nameEnd === i) fail('invalid authentication parameter name');
      const name = s.slice(i, nameEnd).toLowerCase();
      i = skipWsp(s, nameEnd);
      if (s[i] !== '=') fail(`authentication parameter "${name}" has no value`);
      i = skipWsp(s, i + 1);
      let paramValue: string;
      if (s[i] === '"') {
        const quoted = readQuoted(s, i);
        paramValue = quoted.value;
        i = quoted.end;
      } else {
        // Tolerates base64-ish unquoted values (nonce=abc/de==) that some servers send despite the grammar.
        const start = i;
        while (i < s.length && s[i] !== ',' && !isWsp(s.charCodeAt(i))) i++;
        paramValue = s.slice(start, i);
        if (paramValue === '' || /[\x00-\x1f\x7f"]/.test(paramValue)) fail(`invalid value for "${name}"`);
      }
      if (Object.hasOwn(params, name)) fail(`duplicate authentication parameter "${name}"`);
      // defineProperty, not assignment: a parameter named __proto__ must stay a plain own property.
      Object.defineProperty(params, name, { value: paramValue, enumerable: true, writable: true, configurable: true });
      i = skipWsp(s, i);
      if (i < s.length) {
        if (s[i] !== ',') fail('expected "," between authentication parameters');
        // Empty list elements are allowed (RFC 7235 §7 #rule), so runs of commas are skipped.
        while (i < s.length && (s[i] === ',' || isWsp(s.charCodeAt(i)))) i++;
      }
    }
    return { scheme, params };
  });
}

/** Authorization and challenge headers share one grammar; the alias reads better at call sites. */
export const parseAuthCredentials = parseAuthChallenge;

function readToken(s: string, i: number): number {
  while (i < s.length && inSet(TOKEN_CHARS, s.charCodeAt(i))) i++;
  return i;
}

function formatAuth(scheme: string, params: Readonly<Record<string, string>>, unquoted: ReadonlySet<string>): string {
  if (!isToken(scheme)) fail('invalid authentication scheme');
  const parts = Object.entries(params).map(([name, value]) => {
    if (!isToken(name)) fail(`invalid authentication parameter name "${name}"`);
    const bare = unquoted.has(name.toLowerCase()) && isToken(value);
    return `${name}=${bare ? value : quote(value)}`;
  });
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`;
}

// RFC 2617 §3.2.2: algorithm, qop (message-qop) and nc are tokens in credentials; the rest are quoted-strings.
const CREDENTIAL_TOKENS: ReadonlySet<string> = new Set(['algorithm', 'qop', 'nc']);
// RFC 2617 §3.2.1: in a challenge qop-options is a quoted list, algorithm and stale are tokens.
const CHALLENGE_TOKENS: ReadonlySet<string> = new Set(['algorithm', 'stale']);

/** Formats an Authorization / Proxy-Authorization value, quoting each parameter as RFC 2617 requires. */
export function formatAuthCredentials(scheme: string, params: Readonly<Record<string, string>>): string {
  return guard('authentication header', () => formatAuth(scheme, params, CREDENTIAL_TOKENS));
}

/** Formats a WWW-Authenticate / Proxy-Authenticate value. */
export function formatAuthChallenge(scheme: string, params: Readonly<Record<string, string>>): string {
  return guard('authentication header', () => formatAuth(scheme, params, CHALLENGE_TOKENS));
}
