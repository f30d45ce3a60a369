import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchesEventType } from '../../../src/core/webhooks.js';
import type { ClaimedDelivery } from '../../../src/webhooks/dispatcher.js';
import { buildWebhookRequest, USER_AGENT } from '../../../src/webhooks/sender.js';
import { signBody, verifyTimestamped } from '../../../src/webhooks/signer.js';

const delivery: ClaimedDelivery = {
  id: 'whd_1',
  eventId: 'evt_1',
  endpointId: 'whe_1',
  targetKey: 'whe_1',
  url: 'https://hooks.example.com/x',
  eventType: 'call.ended',
  payload: '{"type":"call.ended","data":{"name":"Zoë"}}',
  signatureHeader: 'X-DialAnyone-Signature',
  secrets: ['new-secret', 'old-secret'],
  attempts: 2,
  firstAttemptAt: 0,
};

describe('the webhook request', () => {
  test('carries the ids, the attempt, both signatures, and the exact payload bytes', () => {
    const request = buildWebhookRequest(delivery, 3, 1_700_000_000_123);
    assert.equal(request.body.toString('utf8'), delivery.payload);
    assert.equal(request.headers['user-agent'], USER_AGENT);
    assert.equal(request.headers['x-dialplane-event-id'], 'evt_1');
    assert.equal(request.headers['x-dialplane-delivery-id'], 'whd_1');
    assert.equal(request.headers['x-dialplane-attempt'], '3');
    assert.equal(request.headers['x-dialanyone-signature'], signBody(request.body, 'new-secret'));
    const stamped = request.headers['x-dialplane-signature']!;
    assert.match(stamped, /^t=1700000000,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    for (const secret of ['new-secret', 'old-secret']) {
      assert.deepEqual(verifyTimestamped(request.body, stamped, [secret], { nowSeconds: 1_700_000_000 }), { ok: true });
    }
  });

  test('an endpoint without a secret sends no signature headers', () => {
    const request = buildWebhookRequest({ ...delivery, secrets: [''] }, 1, 0);
    assert.equal(request.headers['x-dialplane-signature'], undefined);
    assert.equal(request.headers['x-dialanyone-signature'], undefined);
  });
});

describe('event type patterns', () => {
  test('exact, wildcard and prefix patterns', () => {
    assert.ok(matchesEventType(['*'], 'sms.delivered'));
    assert.ok(matchesEventType(['call.*'], 'call.answered'));
    assert.ok(matchesEventType(['call.answered'], 'call.answered'));
    assert.ok(!matchesEventType(['call.answered'], 'call.ended'));
    assert.ok(!matchesEventType(['call.*'], 'callx.ended'));
    assert.ok(!matchesEventType(['call.*'], 'sms.received'));
    assert.ok(!matchesEventType([], 'call.ended'));
  });
});
