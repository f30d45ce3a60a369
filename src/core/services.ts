import type { Store } from '../store/store.js';
import { AccountService } from './accounts.js';
import { ApiKeyService } from './api-keys.js';
import type { Clock } from './clock.js';
import { CreditService } from './credits.js';
import { GatewayAppService } from './gateway-apps.js';
import { NumberService } from './numbers.js';
import { PriceService } from './prices.js';

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
}

export interface ServicesOptions {
  readonly clock: Clock;
  readonly defaultCountry: string;
  readonly keyCacheTtlMs: number;
}

export function createServices(store: Store, options: ServicesOptions): Services {
  const { clock } = options;
  const keys = new ApiKeyService(store, clock, { ttlMs: options.keyCacheTtlMs });
  return {
    store,
    clock,
    accounts: new AccountService(store, clock),
    keys,
    apps: new GatewayAppService(store, clock, keys, options.defaultCountry),
    numbers: new NumberService(store, clock, options.defaultCountry),
    credits: new CreditService(store, clock),
    prices: new PriceService(store, clock),
  };
}
