import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../../core/api-keys.js';
import { isoNow } from '../../../core/clock.js';
import { newId } from '../../../core/ids.js';
import { checkSecret, checkWebhookUrl, SLOT_NOTIFICATIONS, type KeyEndpoints, type KeySlot, type KeyWebhook } from '../../../core/key-webhooks.js';
import type { Services } from '../../../core/services.js';
import type { TestDeliveryResult } from '../../../core/webhooks.js';
import { DialplaneError } from '../../../errors.js';
import { dialAnyoneRoute, documentTime } from './policy.js';
import {
  ENVELOPE_FORMAT,
  EVENT_TYPES,
  PLAIN_FORMAT,
  SIGNATURE_HEADER,
  envelope,
  type DialAnyoneEventType,
  type PlainPayload,
} from './webhook-formats.js';

const EventType = Type.Union(EVENT_TYPES.map((type) => Type.Literal(type)));
const EventTypes = Type.Array(EventType, { minItems: 1, maxItems: 10, description: 'incoming_call and/or incoming_sms; both when left out' });
const WebhookUrl = Type.String({ minLength: 1, maxLength: 2048, description: 'an http or https URL' });

const SubscribeBody = Type.Object({
  webhook_url: WebhookUrl,
  event_types: Type.Optional(EventTypes),
  webhook_secret: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
});
const TestBody = SubscribeBody;
const UnsubscribeBody = Type.Object({ webhook_url: WebhookUrl, event_types: Type.Optional(EventTypes) });

const TestResult = Type.Object({ success: Type.Boolean() });
const TestResults = Type.Object({ call_test: Type.Optional(TestResult), sms_test: Type.Optional(TestResult) });
const NullableText = Type.Union([Type.String(), Type.Null()]);

const SubscribeResponse = Type.Object({
  success: Type.Boolean(),
  subscription: Type.Object({
    webhook_url: Type.String(),
    event_types: Type.Array(EventType),
    created_at: Type.String(),
    test_delivery_status: Type.Union([Type.Literal('success'), Type.Literal('failed')]),
  }),
  test_results: TestResults,
});
const SubscriptionEntry = Type.Object({
  webhook_url: Type.String(),
  event_types: Type.Array(EventType),
  webhook_secret: NullableText,
  status: Type.String(),
  created_at: Type.String(),
});
const SubscriptionsResponse = Type.Object({
  success: Type.Boolean(),
  subscriptions: Type.Object({
    call_webhook_url: NullableText,
    sms_webhook_url: NullableText,
    call_webhook_secret: NullableText,
    sms_webhook_secret: NullableText,
  }),
  totals: Type.Object({
    total_subscriptions: Type.Integer(),
    has_call_webhook: Type.Boolean(),
    has_sms_webhook: Type.Boolean(),
  }),
  all_subscriptions: Type.Array(SubscriptionEntry),
  key_webhooks: Type.Object({ call_webhook_url: NullableText, sms_webhook_url: NullableText, webhook_url: NullableText }),
});
const TestResponse = Type.Object({
  success: Type.Boolean(),
  webhook_url: Type.String(),
  event_types: Type.Array(EventType),
  overall_success: Type.Boolean(),
  message: Type.String(),
  test_results: TestResults,
});
const UnsubscribeResponse = Type.Object({
  success: Type.Boolean(),
  message: Type.String(),
  removed_subscription: Type.Object({ webhook_url: Type.String(), event_types: Type.Array(EventType), created_at: Type.String() }),
});
const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});

type SubscribeRequest = Static<typeof SubscribeBody>;
type UnsubscribeRequest = Static<typeof UnsubscribeBody>;

const RESULT_FIELD: Readonly<Record<DialAnyoneEventType, 'call_test' | 'sms_test'>> = {
  incoming_call: 'call_test',
  incoming_sms: 'sms_test',
};

function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (!principal) throw new DialplaneError('missing_credentials');
  return principal;
}

/** The requested types without repeats, in the document's order; both when none were named. */
function requestedTypes(types: readonly DialAnyoneEventType[] | undefined): DialAnyoneEventType[] {
  return types === undefined ? [...EVENT_TYPES] : EVENT_TYPES.filter((type) => types.includes(type));
}

/** What a test delivery carries: the document's notification with `call_test_…` / `msg_test_…` ids. */
function testPayload(type: DialAnyoneEventType, timestamp: string): PlainPayload {
  const suffix = newId('evt').slice(4, 16);
  if (type === 'incoming_call') {
    return { event: 'incoming_call', call_id: `call_test_${suffix}`, from: '+14155555678', to: '+14155551234', timestamp };
  }
  return {
    event: 'incoming_sms',
    message_id: `msg_test_${suffix}`,
    from: '+14155555678',
    to: '+14155551234',
    body: 'Test message from DialAnyone webhooks',
    timestamp,
  };
}

interface TestOutcome {
  readonly type: DialAnyoneEventType;
  readonly result: TestDeliveryResult;
}

/** Sends one test event per type to the URL now, all at once, in the given format and signed when a secret is given. */
async function runTests(
  services: Services,
  accountId: string,
  url: string,
  types: readonly DialAnyoneEventType[],
  secret: string,
  format: typeof PLAIN_FORMAT | typeof ENVELOPE_FORMAT,
): Promise<TestOutcome[]> {
  const timestamp = documentTime(isoNow(services.clock));
  return Promise.all(
    types.map(async (type) => {
      const plain = testPayload(type, timestamp);
      const body = format === PLAIN_FORMAT ? plain : envelope(newId('evt'), plain);
      const result = await services.webhooks.testDelivery({
        accountId,
        url,
        payload: JSON.stringify(body),
        eventType: 'webhook.test',
        ...(secret === '' ? {} : { secret, signatureHeader: SIGNATURE_HEADER }),
      });
      return { type, result };
    }),
  );
}

function testResults(outcomes: readonly TestOutcome[]): Static<typeof TestResults> {
  const results: { call_test?: { success: boolean }; sms_test?: { success: boolean } } = {};
  for (const { type, result } of outcomes) results[RESULT_FIELD[type]] = { success: result.delivered };
  return results;
}

function failureText({ type, result }: TestOutcome): string {
  return `${type}: ${result.statusCode === null ? (result.error ?? 'no answer') : `HTTP ${result.statusCode}`}`;
}

function testMessage(outcomes: readonly TestOutcome[]): string {
  const failed = outcomes.filter((o) => !o.result.delivered);
  if (failed.length === 0) return 'All webhook tests completed successfully';
  const which = failed.length === outcomes.length ? 'All webhook tests failed' : 'Some webhook tests failed';
  return `${which}: ${failed.map(failureText).join('; ')}`;
}

function enabled(hook: KeyWebhook | undefined): KeyWebhook | undefined {
  return hook?.status === 'enabled' ? hook : undefined;
}

/** The document's event types a key webhook receives, in the document's order. */
function documentEventTypes(hook: KeyWebhook): DialAnyoneEventType[] {
  return EVENT_TYPES.filter((type) => hook.notifications.includes(type));
}

/**
 * Where a type's notifications go, as the documented listing shows it: the active subscription taking it that was
 * subscribed (or changed) last, else the key's own URL for it (the call or SMS URL, else the legacy one).
 */
function destination(endpoints: KeyEndpoints, type: DialAnyoneEventType): KeyWebhook | undefined {
  const subscribed = endpoints.subscriptions.filter((hook) => hook.status === 'enabled' && hook.notifications.includes(type));
  const newest = subscribed.reduce<KeyWebhook | undefined>(
    (latest, hook) => (latest === undefined || hook.updatedAt >= latest.updatedAt ? hook : latest),
    undefined,
  );
  if (newest) return newest;
  const own: KeySlot = type === 'incoming_call' ? 'call' : 'sms';
  return enabled(endpoints.slots[own]) ?? enabled(endpoints.slots.legacy);
}

function listing(endpoints: KeyEndpoints): Static<typeof SubscriptionsResponse> {
  const call = destination(endpoints, 'incoming_call');
  const sms = destination(endpoints, 'incoming_sms');
  // Every active (URL, event type) pair that receives this key's notifications, subscriptions and key settings alike.
  const pairs = new Set<string>();
  for (const hook of endpoints.subscriptions.filter((h) => h.status === 'enabled')) {
    for (const type of documentEventTypes(hook)) pairs.add(`${type} ${hook.url}`);
  }
  for (const slot of ['call', 'sms', 'legacy'] as const) {
    const hook = enabled(endpoints.slots[slot]);
    if (hook) for (const type of SLOT_NOTIFICATIONS[slot]) pairs.add(`${type} ${hook.url}`);
  }
  const secretOf = (hook: KeyWebhook | undefined) => (hook && hook.secret !== '' ? hook.secret : null);
  return {
    success: true,
    subscriptions: {
      call_webhook_url: call?.url ?? null,
      sms_webhook_url: sms?.url ?? null,
      call_webhook_secret: secretOf(call),
      sms_webhook_secret: secretOf(sms),
    },
    totals: { total_subscriptions: pairs.size, has_call_webhook: call !== undefined, has_sms_webhook: sms !== undefined },
    all_subscriptions: endpoints.subscriptions.map((hook) => ({
      webhook_url: hook.url,
      event_types: documentEventTypes(hook),
      webhook_secret: secretOf(hook),
      status: hook.status,
      created_at: documentTime(hook.createdAt),
    })),
    key_webhooks: {
      call_webhook_url: endpoints.slots.call?.url ?? null,
      sms_webhook_url: endpoints.slots.sms?.url ?? null,
      webhook_url: endpoints.slots.legacy?.url ?? null,
    },
  };
}

/**
 * DialAnyone's webhook subscriptions: /webhooks/subscribe, /webhooks/subscriptions, /webhooks/test,
 * /webhooks/unsubscribe (relative to the face's prefix). A subscription belongs to the API key that made it: core's
 * key webhooks keep it, one per (key, URL), holding its event types, delivered in the document's envelope.
 */
export function registerWebhookRoutes(app: FastifyInstance, services: Services): void {
  const schema = (summary: string, extra: Record<string, unknown>) => ({
    tags: ['DialAnyone'],
    summary,
    security: [{ bearer: [] }],
    ...extra,
  });
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody };
  const keyWebhooks = services.keyWebhooks;

  app.post<{ Body: SubscribeRequest }>(
    '/webhooks/subscribe',
    {
      config: dialAnyoneRoute('other'),
      schema: schema('Subscribe a URL to incoming_call / incoming_sms events; test deliveries are sent at once', {
        body: SubscribeBody,
        response: { 201: SubscribeResponse, ...errors },
      }),
    },
    async (request, reply) => {
      const { accountId, keyId } = principalOf(request);
      const url = checkWebhookUrl(request.body.webhook_url, 'webhook_url');
      const types = requestedTypes(request.body.event_types);
      const given = request.body.webhook_secret === undefined ? undefined : checkSecret(request.body.webhook_secret, 'webhook_secret');
      // Re-subscribing without a secret keeps the subscription's secret, so its tests are signed with it too.
      const existing = (await keyWebhooks.endpoints(accountId, keyId)).subscriptions.find((hook) => hook.url === url);
      const outcomes = await runTests(services, accountId, url, types, given ?? existing?.secret ?? '', ENVELOPE_FORMAT);
      const subscription = await keyWebhooks.subscribe(accountId, keyId, {
        url,
        notifications: types,
        ...(given === undefined ? {} : { secret: given }),
      });
      return reply.status(201).send({
        success: true,
        subscription: {
          webhook_url: url,
          event_types: EVENT_TYPES.filter((type) => subscription.notifications.includes(type)),
          created_at: documentTime(subscription.createdAt),
          test_delivery_status: outcomes.every((o) => o.result.delivered) ? 'success' : 'failed',
        },
        test_results: testResults(outcomes),
      });
    },
  );

  app.get(
    '/webhooks/subscriptions',
    {
      config: dialAnyoneRoute('other'),
      schema: schema("The key's webhook subscriptions", { response: { 200: SubscriptionsResponse, 401: ErrorBody, 429: ErrorBody } }),
    },
    async (request) => {
      const { accountId, keyId } = principalOf(request);
      return listing(await keyWebhooks.endpoints(accountId, keyId));
    },
  );

  app.post<{ Body: SubscribeRequest }>(
    '/webhooks/test',
    {
      config: dialAnyoneRoute('other'),
      schema: schema('Send test events to a URL now and report the outcome', {
        body: TestBody,
        response: { 200: TestResponse, ...errors },
      }),
    },
    async (request) => {
      const { accountId, keyId } = principalOf(request);
      const url = checkWebhookUrl(request.body.webhook_url, 'webhook_url');
      const types = requestedTypes(request.body.event_types);
      const given = request.body.webhook_secret === undefined ? undefined : checkSecret(request.body.webhook_secret, 'webhook_secret');
      // A URL the key already sends to is tested the way it is sent to: its format and its secret.
      const endpoints = await keyWebhooks.endpoints(accountId, keyId);
      const subscribed = endpoints.subscriptions.find((hook) => hook.url === url);
      const own = Object.values(endpoints.slots).find((hook) => hook.url === url);
      const format = !subscribed && own ? PLAIN_FORMAT : ENVELOPE_FORMAT;
      const secret = given ?? (subscribed ?? own)?.secret ?? '';
      const outcomes = await runTests(services, accountId, url, types, secret, format);
      return {
        success: true,
        webhook_url: url,
        event_types: types,
        overall_success: outcomes.every((o) => o.result.delivered),
        message: testMessage(outcomes),
        test_results: testResults(outcomes),
      };
    },
  );

  app.delete<{ Body: UnsubscribeRequest }>(
    '/webhooks/unsubscribe',
    {
      config: dialAnyoneRoute('other'),
      schema: schema('Remove a subscription for some or all of its event types', {
        body: UnsubscribeBody,
        response: { 200: UnsubscribeResponse, 404: ErrorBody, ...errors },
      }),
    },
    async (request) => {
      const { accountId, keyId } = principalOf(request);
      const url = checkWebhookUrl(request.body.webhook_url, 'webhook_url');
      const types = requestedTypes(request.body.event_types);
      const { removed, createdAt } = await keyWebhooks.unsubscribe(accountId, keyId, url, types);
      return {
        success: true,
        message: 'Webhook subscription removed successfully',
        removed_subscription: {
          webhook_url: url,
          event_types: EVENT_TYPES.filter((type) => removed.includes(type)),
          created_at: documentTime(createdAt),
        },
      };
    },
  );
}
