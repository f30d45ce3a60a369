import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A signed-in dashboard user. The user's permission is read again on every request, not kept here. */
export interface DashboardSession {
  readonly accountId: string;
  readonly userId: string;
  /** Sent back in every form (and the X-CSRF-Token header) and compared in constant time. */
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeenAt: number;
}

/**
 * Where sessions live, keyed by the SHA-256 of the cookie's value (a copy of the store leaks no usable cookie). The
 * memory store suits one server; several servers behind a balancer need a shared implementation of this interface.
 */
export interface SessionStore {
  get(idHash: string): Promise<DashboardSession | undefined>;
  set(idHash: string, session: DashboardSession): Promise<void>;
  delete(idHash: string): Promise<void>;
}

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, DashboardSession>();

  constructor(private readonly maxSessions = 10_000) {}

  async get(idHash: string): Promise<DashboardSession | undefined> {
    return this.sessions.get(idHash);
  }

  async set(idHash: string, session: DashboardSession): Promise<void> {
    if (this.sessions.size >= this.maxSessions && !this.sessions.has(idHash)) {
      // The oldest sign-in makes room: a flood of sign-ins cannot grow memory without bound.
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(idHash, session);
  }

  async delete(idHash: string): Promise<void> {
    this.sessions.delete(idHash);
  }
}

export const SESSION_COOKIE = 'dialplane_session';
/** A session unused this long is over; a sign-in lasts at most SESSION_MAX_MS whatever its use. */
export const SESSION_IDLE_MS = 60 * 60_000;
export const SESSION_MAX_MS = 12 * 60 * 60_000;

export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

export function sessionAlive(session: DashboardSession, nowMs: number): boolean {
  return nowMs - session.lastSeenAt < SESSION_IDLE_MS && nowMs - session.createdAt < SESSION_MAX_MS;
}

/** Constant-time whatever the lengths: both sides are hashed first. */
export function tokensMatch(presented: string | undefined, expected: string): boolean {
  if (presented === undefined || presented === '') return false;
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure over HTTPS. */
export function sessionCookie(value: string, secure: boolean, maxAgeS: number): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/dashboard',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeS}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}
