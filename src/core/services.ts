import type { Store } from '../store/store.js';
import { AccountChanges } from './account-changes.js';
import type { Invalidations } from '../shared-state/invalidations.js';
import type { NodeBus } from '../shared-state/node-bus.js';
import { AccountSummaryService } from './account-summary.js';
import { AccountService } from './accounts.js';
import { CallService } from './calls/call-service.js';
import { ApiKeyService } from './api-keys.js';
import { ApplicationService } from './applications.js';
import type { Clock } from './clock.js';
import { ContactService } from './contacts.js';
import { CreditService } from './credits.js';
import { DirectoryService } from './directory.js';
import { ExtensionService } from './extensions.js';
import { GATEWAY_SESSION_FORMAT, GatewayAppService } from './gateway-apps.js';
import { gatewaySessionPayload } from './gateway-session-events.js';
import { DEFAULT_LEASE_MS, generateNodeId, NodeLease } from './node-lease.js';
import { KeyWebhookService } from './key-webhooks.js';
import { NumberService } from './numbers.js';
import { PriceService } from './prices.js';
import { SignInService } from './sign-in.js';
import { SmsService } from './sms.js';
import { WebhookService } from './webhooks.js';

/** Every business rule of the platform, reached through one object the API, the CLI and the engines share. */
export interface Services {
  readonly store: Store;
  readonly clock: Clock;
  readonly accounts: AccountService;
  readonly keys: ApiKeyService;
  readonly apps: GatewayAppService;
  readonly numbers: NumberService;
  readonly credits: CreditService;
  readonly prices: PriceService;
  readonly summaries: AccountSummaryService;
  readonly changes: AccountChanges;
  readonly calls: CallService;
  readonly webhooks: WebhookService;
  /** Webhook URLs and subscriptions that belong to an API key. */
  readonly keyWebhooks: KeyWebhookService;
  readonly sms: SmsService;
  readonly extensions: ExtensionService;
  /** This process as a node on the database: it owns the calls and SMS it starts. Started by the server only. */
  readonly node: NodeLease;
  readonly applications: ApplicationService;
  /** For numbers written without a country code. */
  readonly defaultCountry: string;
  /** Address-book contacts (DialLink). */
  readonly contacts: ContactService;
  /** Paged, filtered listings of users, keys, calls and recordings (DialLink). */
  readonly directory: DirectoryService;
  /** Email and password sign-in, access and refresh tokens. */
  readonly signIn: SignInService;
}

export interface ServicesOptions {
  readonly clock: Clock;
  readonly defaultCountry: string;
  readonly keyCacheTtlMs: number;
  /** How long an account summary may be served from memory when no change was seen in this process. */
  readonly summaryCacheTtlMs?: number;
  /** Where errors thrown by event listeners (user-facing code) are reported. */
  readonly onListenerError?: (error: unknown) => void;
  /** Where expected refusals (an SMS the SMSC refused) are reported: one line each, without a stack. */
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
  /** Most segments one SMS may take (DIALPLANE_SMS_MAX_SEGMENTS). */
  readonly smsMaxSegments?: number;
  /** Other nodes' cache invalidations, and where this node's go; without: one process. */
  readonly invalidations?: Invalidations;
  /** Commands to other nodes and call events from them; without: one process. */
  readonly bus?: NodeBus;
  /** This node; without one a lease with a generated id is made (and left unstarted: CLI and tests). */
  readonly node?: NodeLease;
}

export function createServices(store: Store, options: ServicesOptions): Services {
  const { clock } = options;
  const changes = new AccountChanges(options.invalidations);
  const keys = new ApiKeyService(store, clock, { ttlMs: options.keyCacheTtlMs }, changes);
  const accounts = new AccountService(store, clock, changes);
  const numbers = new NumberService(store, clock, options.defaultCountry, changes);
  const credits = new CreditService(store, clock, changes);
  const webhooks = new WebhookService(store, clock);
  webhooks.registerFormat(GATEWAY_SESSION_FORMAT, gatewaySessionPayload);
  const prices = new PriceService(store, clock);
  const node = options.node ?? new NodeLease(store.nodes, clock, { nodeId: generateNodeId(), leaseMs: DEFAULT_LEASE_MS });
  return {
    store,
    clock,
    accounts,
    keys,
    apps: new GatewayAppService(store, clock, keys, webhooks, options.defaultCountry),
    numbers,
    credits,
    prices,
    summaries: new AccountSummaryService({ accounts, numbers, credits }, clock, changes, options.summaryCacheTtlMs ?? 5_000),
    changes,
    calls: new CallService(store, clock, options.onListenerError, webhooks, node, options.bus),
    webhooks,
    keyWebhooks: new KeyWebhookService(store, clock, keys, webhooks),
    sms: new SmsService(store, clock, { credits, prices, numbers, webhooks, node }, {
      maxSegments: options.smsMaxSegments ?? 10,
      defaultCountry: options.defaultCountry,
      ...(options.onListenerError ? { onError: options.onListenerError } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    }),
    extensions: new ExtensionService(store, clock, options.defaultCountry),
    node,
    applications: new ApplicationService(store, clock, webhooks),
    defaultCountry: options.defaultCountry,
    contacts: new ContactService(store, clock),
    directory: new DirectoryService(store, clock, keys),
    signIn: new SignInService(store, clock),
  };
}
