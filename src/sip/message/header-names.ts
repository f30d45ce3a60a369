/**
 * Header field names: compact forms (RFC 3261 §7.3.3 and the extensions that define one), the canonical spelling
 * of well-known names, and which headers are comma-separated lists. Field names are case-insensitive (§7.3.1), so
 * every lookup is by lower case.
 */

/** Compact form → canonical long form. */
const COMPACT: Readonly<Record<string, string>> = {
  a: 'Accept-Contact', // RFC 3841
  b: 'Referred-By', // RFC 3892
  c: 'Content-Type',
  d: 'Request-Disposition', // RFC 3841
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact', // RFC 3841
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  n: 'Identity-Info', // RFC 4474
  o: 'Event', // RFC 6665
  r: 'Refer-To', // RFC 3515
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events', // RFC 6665
  v: 'Via',
  x: 'Session-Expires', // RFC 4028
  y: 'Identity', // RFC 4474 / RFC 8224
};

const KNOWN = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Accept-Resource-Priority', 'Alert-Info',
  'Allow', 'Allow-Events', 'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact',
  'Content-Disposition', 'Content-Encoding', 'Content-ID', 'Content-Language', 'Content-Length', 'Content-Type',
  'Content-Transfer-Encoding', 'CSeq', 'Date', 'Error-Info', 'Event', 'Expires', 'Feature-Caps', 'Flow-Timer',
  'From', 'Geolocation', 'Geolocation-Error', 'Geolocation-Routing', 'History-Info', 'Identity', 'Identity-Info',
  'In-Reply-To', 'Join', 'Max-Breadth', 'Max-Forwards', 'MIME-Version', 'Min-Expires', 'Min-SE', 'Organization',
  'P-Access-Network-Info', 'P-Asserted-Identity', 'P-Asserted-Service', 'P-Associated-URI', 'P-Called-Party-ID',
  'P-Charging-Function-Addresses', 'P-Charging-Vector', 'P-Early-Media', 'P-Preferred-Identity',
  'P-Preferred-Service', 'P-Visited-Network-ID', 'Path', 'Permission-Missing', 'Priority', 'Privacy',
  'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Recv-Info',
  'Refer-Sub', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To', 'Request-Disposition',
  'Require', 'Resource-Priority', 'Retry-After', 'Route', 'RSeq', 'Security-Client', 'Security-Server',
  'Security-Verify', 'Server', 'Service-Route', 'Session-Expires', 'Session-ID', 'SIP-ETag', 'SIP-If-Match',
  'Subject', 'Subscription-State', 'Supported', 'Suppress-If-Match', 'Target-Dialog', 'Timestamp', 'To',
  'Trigger-Consent', 'Unsupported', 'User-Agent', 'User-to-User', 'Via', 'Warning', 'WWW-Authenticate',
] as const;

const CANONICAL = new Map<string, string>(KNOWN.map((name) => [name.toLowerCase(), name]));

/**
 * Headers whose grammar is a comma-separated list (`Name: a, b` ≡ `Name: a` + `Name: b`, §7.3.1). Anything else,
 * unknown headers included, is one value per line: RFC 4475 §3.1.1.1 requires an unknown header's value to be
 * taken whole, and Date, WWW-Authenticate and friends contain commas that are not separators.
 */
const LIST_HEADERS = new Set<string>(
  [
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Accept-Resource-Priority', 'Alert-Info',
    'Allow', 'Allow-Events', 'Call-Info', 'Contact', 'Content-Encoding', 'Content-Language', 'Error-Info',
    'History-Info', 'In-Reply-To', 'P-Asserted-Identity', 'P-Associated-URI', 'P-Preferred-Identity', 'Path',
    'Proxy-Require', 'Reason', 'Record-Route', 'Recv-Info', 'Reject-Contact', 'Request-Disposition', 'Require',
    'Resource-Priority', 'Route', 'Security-Client', 'Security-Server', 'Security-Verify', 'Service-Route',
    'Supported', 'Unsupported', 'Via', 'Warning',
  ].map((name) => name.toLowerCase()),
);

/** The canonical name of a header as written on the wire: compact forms expanded, known names re-cased. */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  const expanded = lower.length === 1 ? COMPACT[lower] : undefined;
  return expanded ?? CANONICAL.get(lower) ?? name;
}

/** True when the header (any spelling, compact accepted) is defined as a comma-separated list. */
export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(canonicalHeaderName(name).toLowerCase());
}

export function sameHeaderName(a: string, b: string): boolean {
  return canonicalHeaderName(a).toLowerCase() === canonicalHeaderName(b).toLowerCase();
}
