/** Bytes of a secrets key (AES-256). */
const KEY_BYTES = 32;

/** A 32-byte key written as base64 (44 characters, as `openssl rand -base64 32` prints it) or 64 hex digits. */
export function parseSecretKey(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const key = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
    return key.length === KEY_BYTES ? key : undefined;
  }
  return undefined;
}
