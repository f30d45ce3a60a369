import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  hashSessionId,
  MemorySessionStore,
  readCookie,
  SESSION_IDLE_MS,
  SESSION_MAX_MS,
  sessionAlive,
  sessionCookie,
  tokensMatch,
  type DashboardSession,
} from '../../../../src/api/dashboard/sessions.js';

const session = (at: number): DashboardSession => ({ accountId: 'acct_1', userId: 'user_1', csrfToken: 't', createdAt: at, lastSeenAt: at });

describe('dashboard sessions', () => {
  test('CSRF tokens match only exactly; empty and missing never match', () => {
    assert.equal(tokensMatch('abc', 'abc'), true);
    assert.equal(tokensMatch('abd', 'abc'), false);
    assert.equal(tokensMatch('abcd', 'abc'), false);
    assert.equal(tokensMatch('', ''), false);
    assert.equal(tokensMatch(undefined, 'abc'), false);
  });

  test('a session ends when idle too long or too old, whatever its use', () => {
    assert.equal(sessionAlive(session(0), SESSION_IDLE_MS - 1), true);
    assert.equal(sessionAlive(session(0), SESSION_IDLE_MS), false);
    const busy = { ...session(0), lastSeenAt: SESSION_MAX_MS - 10 };
    assert.equal(sessionAlive(busy, SESSION_MAX_MS - 1), true);
    assert.equal(sessionAlive(busy, SESSION_MAX_MS), false);
  });

  test('the cookie is HttpOnly, SameSite=Strict, scoped to /dashboard, Secure only over HTTPS', () => {
    assert.equal(sessionCookie('v', false, 60), 'dialplane_session=v; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=60');
    assert.match(sessionCookie('v', true, 60), /; Secure$/);
    assert.equal(readCookie('a=1; dialplane_session=xyz; b=2', 'dialplane_session'), 'xyz');
    assert.equal(readCookie('dialplane_session_other=1', 'dialplane_session'), undefined);
    assert.equal(readCookie(undefined, 'dialplane_session'), undefined);
  });

  test('the memory store is keyed by the hash and bounded: the oldest session makes room', async () => {
    const store = new MemorySessionStore(2);
    await store.set(hashSessionId('a'), session(1));
    await store.set(hashSessionId('b'), session(2));
    await store.set(hashSessionId('c'), session(3));
    assert.equal(await store.get(hashSessionId('a')), undefined);
    assert.equal((await store.get(hashSessionId('c')))?.createdAt, 3);
    assert.notEqual(hashSessionId('a'), 'a');
    await store.delete(hashSessionId('c'));
    assert.equal(await store.get(hashSessionId('c')), undefined);
  });
});
