import type { Database } from './database.js';
import { AccountsRepository } from './accounts-repository.js';
import { ApiKeysRepository } from './api-keys-repository.js';
import { ApplicationsRepository } from './applications-repository.js';
import { AppsRepository } from './apps-repository.js';
import { AuthTokensRepository } from './auth-tokens-repository.js';
import { CallsRepository } from './calls-repository.js';
import { ClaimsRepository } from './claims-repository.js';
import { ContactsRepository } from './contacts-repository.js';
import { CreditsRepository } from './credits-repository.js';
import { DirectoryRepository } from './directory-repository.js';
import { ExtensionsRepository } from './extensions-repository.js';
import { NodesRepository } from './nodes-repository.js';
import { NumbersRepository } from './numbers-repository.js';
import { PricesRepository } from './prices-repository.js';
import { RegistrationsRepository } from './registrations-repository.js';
import { SmsRepository } from './sms-repository.js';
import { WebhooksRepository } from './webhooks-repository.js';
import { SecretBox } from './secret-box.js';

/** Every repository over one database; core services receive this and never see SQL. */
export interface Store {
  readonly database: Database;
  readonly accounts: AccountsRepository;
  readonly apiKeys: ApiKeysRepository;
  readonly apps: AppsRepository;
  readonly numbers: NumbersRepository;
  readonly credits: CreditsRepository;
  readonly prices: PricesRepository;
  readonly calls: CallsRepository;
  readonly webhooks: WebhooksRepository;
  readonly sms: SmsRepository;
  readonly extensions: ExtensionsRepository;
  /** The registrar's bindings. */
  readonly registrations: RegistrationsRepository;
  readonly nodes: NodesRepository;
  /** Work one node does for all: the SMPP bind of an SMSC account, a trunk's registration. */
  readonly claims: ClaimsRepository;
  readonly applications: ApplicationsRepository;
  readonly contacts: ContactsRepository;
  readonly directory: DirectoryRepository;
  readonly authTokens: AuthTokensRepository;
  /** Seals and opens the secret columns; the repositories use it, core never does. */
  readonly secrets: SecretBox;
}

export interface StoreOptions {
  /**
   * The key the secret columns are sealed with. The server and the command line pass the configured one
   * (loadSecretBox); without it a key lives only as long as the process (SecretBox.ephemeral()).
   */
  readonly secrets?: SecretBox;
}

export function createStore(database: Database, options: StoreOptions = {}): Store {
  const db = database;
  const secrets = options.secrets ?? SecretBox.ephemeral();
  return {
    database,
    accounts: new AccountsRepository(db),
    apiKeys: new ApiKeysRepository(db),
    apps: new AppsRepository(db, secrets),
    numbers: new NumbersRepository(db),
    credits: new CreditsRepository(db),
    prices: new PricesRepository(db),
    calls: new CallsRepository(db),
    webhooks: new WebhooksRepository(db, secrets),
    sms: new SmsRepository(db),
    extensions: new ExtensionsRepository(db, secrets),
    registrations: new RegistrationsRepository(db),
    nodes: new NodesRepository(db),
    claims: new ClaimsRepository(db),
    applications: new ApplicationsRepository(db, secrets),
    contacts: new ContactsRepository(db),
    directory: new DirectoryRepository(db),
    authTokens: new AuthTokensRepository(db),
    secrets,
  };
}
