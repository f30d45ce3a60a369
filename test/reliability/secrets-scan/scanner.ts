/**
 * The secrets a test planted, and a scan of everything the server let out (log lines, HTTP answers, requests it
 * sent, files it wrote) for each of them in the clear and in the encodings a secret could plausibly be written in:
 * hex, base64 and base64url at any byte alignment, URL and form encoding, JSON string escaping.
 */

/** One place the server's output was seen. `kind` and `label` name it in a finding. */
export interface Source {
  readonly kind: 'log' | 'response' | 'request-sent' | 'file' | 'database';
  readonly label: string;
  readonly bytes: Buffer;
}

/** Where a planted secret may be seen, as documented; anywhere else is a leak. */
export type Allowed = (source: Source, at: number) => boolean;

export interface Planted {
  readonly name: string;
  readonly value: string;
  /** Encodings of the value, by name (`raw` first). */
  readonly forms: ReadonlyMap<string, Buffer>;
  readonly allowed: Allowed;
  /** Why it may be where it is allowed (printed with the figures). */
  readonly exception?: string;
}

export interface Finding {
  readonly secret: string;
  readonly encoding: string;
  readonly source: string;
  readonly context: string;
}

/**
 * The base64 characters of `bytes` that do not depend on what precedes or follows it, when it starts `shift` bytes
 * into a 3-byte group: a secret embedded in a longer encoded blob shows exactly these.
 */
function alignedBase64(bytes: Buffer, shift: number): string {
  const encoded = Buffer.concat([Buffer.alloc(shift), bytes, Buffer.alloc(3)]).toString('base64');
  const start = Math.ceil((8 * shift) / 6);
  const end = Math.floor((8 * (shift + bytes.length)) / 6);
  return encoded.slice(start, end);
}

/** The value and each distinct encoding of it worth searching for. */
export function encodingsOf(value: string, extra: Record<string, string> = {}): Map<string, Buffer> {
  const forms = new Map<string, Buffer>();
  const add = (name: string, text: string): void => {
    if (text.length < 8) return;
    for (const seen of forms.values()) if (seen.equals(Buffer.from(text))) return;
    forms.set(name, Buffer.from(text, 'utf8'));
  };
  const bytes = Buffer.from(value, 'utf8');
  add('raw', value);
  add('hex', bytes.toString('hex'));
  add('HEX', bytes.toString('hex').toUpperCase());
  for (const shift of [0, 1, 2]) {
    const b64 = alignedBase64(bytes, shift);
    add(`base64@${shift}`, b64);
    add(`base64url@${shift}`, b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  add('url', encodeURIComponent(value));
  add('form', new URLSearchParams({ v: value }).toString().slice(2));
  add('json', JSON.stringify(value).slice(1, -1));
  for (const [name, text] of Object.entries(extra)) add(name, text);
  return forms;
}

export class SecretBook {
  readonly planted: Planted[] = [];

  /** Plants a secret; `allowed` defaults to nowhere. Empty or short values are refused: a test must plant real ones. */
  plant(name: string, value: string, options: { allowed?: Allowed; exception?: string; extra?: Record<string, string> } = {}): string {
    if (value.length < 8) throw new Error(`${name}: a planted secret must be at least 8 characters (got ${JSON.stringify(value)})`);
    this.planted.push({
      name,
      value,
      forms: encodingsOf(value, options.extra),
      allowed: options.allowed ?? (() => false),
      ...(options.exception ? { exception: options.exception } : {}),
    });
    return value;
  }

  /** Every occurrence of every planted secret, in any of its forms, outside where it is allowed. */
  scan(sources: readonly Source[]): { findings: Finding[]; allowedHits: number } {
    const findings: Finding[] = [];
    let allowedHits = 0;
    for (const source of sources) {
      for (const secret of this.planted) {
        for (const [encoding, needle] of secret.forms) {
          for (let at = source.bytes.indexOf(needle); at >= 0; at = source.bytes.indexOf(needle, at + 1)) {
            if (secret.allowed(source, at)) {
              allowedHits += 1;
              continue;
            }
            const context = source.bytes
              .subarray(Math.max(0, at - 60), Math.min(source.bytes.length, at + needle.length + 60))
              .toString('latin1')
              .replace(/[^\x20-\x7e]/g, '.');
            findings.push({ secret: secret.name, encoding, source: `${source.kind} ${source.label}`, context });
          }
        }
      }
    }
    return { findings, allowedHits };
  }
}

/** The line of `bytes` that holds offset `at` (for an exception that names one line). */
export function lineAt(bytes: Buffer, at: number): string {
  const start = bytes.lastIndexOf(0x0a, at) + 1;
  const end = bytes.indexOf(0x0a, at);
  return bytes.subarray(start, end < 0 ? bytes.length : end).toString('utf8');
}

/**
 * Log records (JSON lines) with a field named like a key press (digits, dtmf, key, pressed) whose value is made of
 * DTMF keys: a pressed key written to the log whatever its value, which a substring search for a short key
 * sequence cannot tell from any other number.
 */
export function pressedKeysInLog(lines: readonly string[]): string[] {
  const found: string[] = [];
  const visit = (value: unknown, path: string, line: string): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [name, inner] of Object.entries(value as Record<string, unknown>)) {
      if (/digit|dtmf|pressed|^keys?$/i.test(name) && (typeof inner === 'string' || typeof inner === 'number') && /^[0-9*#A-D]+$/.test(String(inner))) {
        found.push(`${path}${name}=${String(inner)} in ${line.slice(0, 300)}`);
      }
      visit(inner, `${path}${name}.`, line);
    }
  };
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      visit(JSON.parse(line), '', line);
    } catch {
      // Not a log record.
    }
  }
  return found;
}
