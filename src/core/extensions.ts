import { createHash, randomInt } from 'node:crypto';
import { DialplaneError } from '../errors.js';
import { isUniqueViolation } from '../store/database.js';
import type { DeviceRow, ExtensionRow, RoutedPhoneNumberRow, SipRegistrationRow } from '../store/schema.js';
import type { RouteColumns } from '../store/extensions-repository.js';
import type { Store } from '../store/store.js';
import { isoNow, type Clock } from './clock.js';
import { newId, randomBase62 } from './ids.js';
import { isE164, normalizePhoneNumber } from './phone-number.js';
import type { SrtpPolicy } from '../sdp/types.js';
import type { TransportProtocol } from '../sip/transport/types.js';

export const SRTP_POLICIES: readonly SrtpPolicy[] = ['off', 'offer', 'require'];

/** The digest realm devices register in; every stored HA1 is computed for it. */
export const SIP_REALM = 'dialplane';

/** A SIP digest username: lower-case letters, digits, '_', '.', '-'; 3 to 64 of them. */
export const DEVICE_USERNAME = /^[a-z0-9_.-]{3,64}$/;

/** Length of a generated device password (base62: about 143 bits). */
export const DEVICE_PASSWORD_LENGTH = 24;

const GENERATED_USERNAME_LENGTH = 12;
const USERNAME_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** An extension's short number: 1 to 8 digits (309), unique in its account. */
export const EXTENSION_NUMBER = /^[0-9]{1,8}$/;

export interface Extension {
  readonly id: string;
  readonly accountId: string;
  readonly name: string;
  /** The short number it is dialled by (309), or null. */
  readonly number: string | null;
  /** E.164: rung through the trunk together with the extension's devices, or null. */
  readonly mobile: string | null;
  /** SRTP (SDES) for its devices' calls: off, offer (when the device agrees) or require (plain offers get 488). */
  readonly srtp: SrtpPolicy;
  readonly createdAt: string;
}

export interface CreateExtensionInput {
  /** Required unless `number` is given (the name is then "Extension <number>"). */
  readonly name?: string | undefined;
  readonly number?: string | undefined;
  readonly mobile?: string | undefined;
  /** Default off. */
  readonly srtp?: SrtpPolicy | undefined;
}

/** Fields to change; null clears the number or the mobile. */
export interface UpdateExtensionInput {
  readonly name?: string | undefined;
  readonly number?: string | null | undefined;
  readonly mobile?: string | null | undefined;
  readonly srtp?: SrtpPolicy | undefined;
}

/** A device as shown anywhere: never its HA1. */
export interface Device {
  readonly id: string;
  readonly accountId: string;
  readonly extensionId: string;
  readonly username: string;
  readonly realm: string;
  readonly createdAt: string;
}

/** What the registrar needs to check a device's digest. */
export interface DeviceCredentials {
  readonly deviceId: string;
  readonly accountId: string;
  readonly extensionId: string;
  /** MD5(username ":" realm ":" password), lower-case hex. */
  readonly ha1: string;
  readonly realm: string;
}

/** Where one Contact of a registered device is reached, as the registrar keeps it across restarts. */
export interface DeviceBinding {
  readonly deviceId: string;
  readonly accountId: string;
  readonly extensionId: string;
  readonly key: string;
  readonly uri: string;
  readonly instance: string | undefined;
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  readonly callId: string;
  readonly cseq: number;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

/**
 * Where a number rings: an extension's devices, a forward number, answered by Dialplane itself (its calls then
 * driven through the API), an application (its call hook or stored program), or nowhere (an inbound call is
 * refused with 480).
 */
export type NumberRoute =
  | { readonly extensionId: string }
  | { readonly applicationId: string }
  | { readonly forwardTo: string }
  | { readonly answer: true }
  | { readonly none: true };

export interface NumberRouting {
  readonly accountId: string;
  readonly numberId: string;
  readonly number: string;
  readonly extensionId: string | null;
  readonly forwardTo: string | null;
  /** Answered by Dialplane itself. */
  readonly answer: boolean;
  /** The application that takes the number's calls. */
  readonly applicationId: string | null;
}

export interface DeletedExtensionResult {
  readonly extension: Extension;
  readonly deletedDeviceIds: readonly string[];
  /** Numbers that rang this extension and now ring nowhere. */
  readonly unroutedNumbers: readonly string[];
}

export interface ExtensionServiceOptions {
  /** Realm of the HA1 stored for new devices. Default SIP_REALM. */
  readonly realm?: string;
}

export function digestHa1(username: string, realm: string, password: string): string {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest('hex');
}

/**
 * Extensions (groups of SIP devices rung together), their devices and where each number rings. A device's
 * password is made here, returned once and kept only as its HA1 for the realm, which is all digest needs.
 * Another account's extension, device or number is not_found, exactly like one that does not exist.
 */
export class ExtensionService {
  readonly realm: string;
  private readonly removedListeners = new Set<(deviceId: string) => void>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly defaultCountry: string,
    options: ExtensionServiceOptions = {},
  ) {
    this.realm = options.realm ?? SIP_REALM;
  }

  async create(accountId: string, input: CreateExtensionInput): Promise<Extension> {
    const number = input.number === undefined ? null : this.extensionNumber(input.number);
    const name = this.extensionName(input.name ?? (number !== null ? `Extension ${number}` : ''));
    const mobile = input.mobile === undefined ? null : normalizePhoneNumber(input.mobile, this.defaultCountry, 'mobile');
    const srtp = srtpPolicy(input.srtp ?? 'off');
    const row: ExtensionRow = { id: newId('ext'), account_id: accountId, name, number, mobile, srtp, created_at: isoNow(this.clock) };
    try {
      await this.store.extensions.insertExtension(row);
    } catch (error) {
      if (isUniqueViolation(error)) throw numberTaken(number);
      throw error;
    }
    return toExtension(row);
  }

  /** Changes the name, the number or the mobile (null clears either of those) of an extension named by id or number. */
  async update(accountId: string, idOrNumber: string, input: UpdateExtensionInput): Promise<Extension> {
    const extensionId = (await this.resolve(accountId, idOrNumber)).id;
    const changes: { name?: string; number?: string | null; mobile?: string | null; srtp?: SrtpPolicy } = {};
    if (input.srtp !== undefined) changes.srtp = srtpPolicy(input.srtp);
    if (input.name !== undefined) changes.name = this.extensionName(input.name);
    if (input.number !== undefined) changes.number = input.number === null ? null : this.extensionNumber(input.number);
    if (input.mobile !== undefined) {
      changes.mobile = input.mobile === null ? null : normalizePhoneNumber(input.mobile, this.defaultCountry, 'mobile');
    }
    let row: ExtensionRow | undefined;
    try {
      row = await this.store.extensions.updateExtension(accountId, extensionId, changes);
    } catch (error) {
      if (isUniqueViolation(error)) throw numberTaken(changes.number ?? null);
      throw error;
    }
    if (!row) throw new DialplaneError('not_found', 'extension not found', { field: 'extension_id' });
    return toExtension(row);
  }

  /** The account's extension dialled by `number` (309), or undefined. */
  async findByNumber(accountId: string, number: string): Promise<Extension | undefined> {
    if (!EXTENSION_NUMBER.test(number)) return undefined;
    const row = await this.store.extensions.findExtensionByNumber(accountId, number);
    return row ? toExtension(row) : undefined;
  }

  /** An extension named by its id (ext_…) or by its number (309); not_found otherwise. */
  async resolve(accountId: string, idOrNumber: string): Promise<Extension> {
    const byNumber = await this.findByNumber(accountId, idOrNumber);
    return byNumber ?? this.get(accountId, idOrNumber);
  }

  async list(accountId: string): Promise<Extension[]> {
    return (await this.store.extensions.listExtensions(accountId)).map(toExtension);
  }

  async get(accountId: string, extensionId: string): Promise<Extension> {
    const row = await this.store.extensions.findExtension(accountId, extensionId);
    if (!row) throw new DialplaneError('not_found', 'extension not found', { field: 'extension_id' });
    return toExtension(row);
  }

  /** Deletes the extension with its devices; numbers that rang it are left routing nowhere. */
  async delete(accountId: string, extensionId: string): Promise<DeletedExtensionResult> {
    const extension = await this.get(accountId, extensionId);
    const deleted = await this.store.extensions.deleteExtension(accountId, extensionId);
    if (!deleted) throw new DialplaneError('not_found', 'extension not found', { field: 'extension_id' });
    for (const id of deleted.deviceIds) this.notifyRemoved(id);
    return { extension, deletedDeviceIds: deleted.deviceIds, unroutedNumbers: deleted.unroutedNumbers };
  }

  /**
   * A new device of the extension (named by its id or its number). The username is the one given ([a-z0-9_.-]{3,64}, unique across accounts) or
   * a generated one; the password is always generated and is returned here only.
   */
  async addDevice(
    accountId: string,
    extensionId: string,
    input: { readonly username?: string | undefined } = {},
  ): Promise<{ device: Device; password: string }> {
    const extension = await this.resolve(accountId, extensionId);
    const given = input.username;
    if (given !== undefined && !DEVICE_USERNAME.test(given)) {
      throw new DialplaneError('validation_failed', 'username must be 3 to 64 of a-z, 0-9, "_", "." and "-"', {
        field: 'username',
      });
    }
    const password = randomBase62(DEVICE_PASSWORD_LENGTH);
    for (let attempt = 0; ; attempt++) {
      const username = given ?? generateUsername();
      const row: DeviceRow = {
        id: newId('dev'),
        account_id: accountId,
        extension_id: extension.id,
        username,
        ha1: digestHa1(username, this.realm, password),
        realm: this.realm,
        created_at: isoNow(this.clock),
      };
      try {
        await this.store.extensions.insertDevice(row);
        return { device: toDevice(row), password };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        // A generated name that happened to be taken is simply drawn again; a chosen one is the caller's conflict.
        if (given !== undefined || attempt >= 4) {
          throw new DialplaneError('conflict', `username ${username} is already in use`, { field: 'username' });
        }
      }
    }
  }

  /** The account's devices, or those of one extension (named by its id or its number). */
  async listDevices(accountId: string, extensionId?: string): Promise<Device[]> {
    const id = extensionId === undefined ? undefined : (await this.resolve(accountId, extensionId)).id;
    return (await this.store.extensions.listDevices(accountId, id)).map(toDevice);
  }

  async getDevice(accountId: string, deviceId: string): Promise<Device> {
    const row = await this.store.extensions.findDevice(accountId, deviceId);
    if (!row) throw new DialplaneError('not_found', 'device not found', { field: 'device_id' });
    return toDevice(row);
  }

  async deleteDevice(accountId: string, deviceId: string): Promise<Device> {
    const device = await this.getDevice(accountId, deviceId);
    if (!(await this.store.extensions.deleteDevice(accountId, deviceId))) {
      throw new DialplaneError('not_found', 'device not found', { field: 'device_id' });
    }
    this.notifyRemoved(deviceId);
    return device;
  }

  /** For the registrar: the device a REGISTER's digest username names, or undefined. */
  async credentialsFor(username: string): Promise<DeviceCredentials | undefined> {
    if (!DEVICE_USERNAME.test(username)) return undefined;
    const row = await this.store.extensions.findDeviceByUsername(username);
    if (!row) return undefined;
    return { deviceId: row.id, accountId: row.account_id, extensionId: row.extension_id, ha1: row.ha1, realm: row.realm };
  }

  /**
   * The caller ID of calls an extension places (a device's call out, a click-to-call): the first voice number routed
   * to the extension, else the account's first voice number; undefined when the account has none.
   */
  async callerIdOf(accountId: string, extensionId: string): Promise<string | undefined> {
    const routed = (await this.store.extensions.listRoutedNumbers(accountId)).filter((n) => n.voice === 1 && n.extension_id === extensionId);
    if (routed[0]) return routed[0].number;
    const voice = (await this.store.numbers.list(accountId)).filter((n) => n.voice === 1);
    return voice[0]?.number;
  }

  /** The registrar's bindings unexpired at `nowMs` whose device still exists (the others are removed). */
  async loadBindings(nowMs: number): Promise<DeviceBinding[]> {
    return (await this.store.registrations.loadCurrent(new Date(nowMs).toISOString())).map(toDeviceBinding);
  }

  /** Bindings unexpired at `nowMs`, as any node stored them: of one device, or of every device. */
  async currentBindings(nowMs: number, deviceId?: string): Promise<DeviceBinding[]> {
    const nowIso = new Date(nowMs).toISOString();
    const rows =
      deviceId === undefined
        ? await this.store.registrations.listCurrent(nowIso)
        : await this.store.registrations.listForDevice(deviceId, nowIso);
    return rows.map(toDeviceBinding);
  }

  async saveBinding(binding: DeviceBinding): Promise<void> {
    await this.store.registrations.put({
      device_id: binding.deviceId,
      binding_key: binding.key,
      account_id: binding.accountId,
      extension_id: binding.extensionId,
      uri: binding.uri,
      instance: binding.instance ?? null,
      transport: binding.transport,
      address: binding.address,
      port: binding.port,
      call_id: binding.callId,
      cseq: binding.cseq,
      expires_at: new Date(binding.expiresAt).toISOString(),
    });
  }

  async removeBinding(deviceId: string, key: string): Promise<void> {
    await this.store.registrations.remove(deviceId, key);
  }

  async removeBindings(deviceId: string): Promise<void> {
    await this.store.registrations.removeDevice(deviceId);
  }

  /** Called with the id of every device deleted through this service (so a registrar can drop its bindings). */
  onDeviceRemoved(listener: (deviceId: string) => void): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  /** Sets where a number of the account rings; the number may be written in any format the default country allows. */
  async route(accountId: string, number: string, route: NumberRoute): Promise<NumberRouting> {
    const e164 = normalizePhoneNumber(number, this.defaultCountry, 'number');
    const row = await this.store.extensions.findNumber(e164);
    if (!row || row.account_id !== accountId) throw new DialplaneError('not_found', 'number not found', { field: 'number' });
    const none: RouteColumns = { extension_id: null, forward_to: null, answer_here: 0, application_id: null };
    let columns: RouteColumns;
    let notFound = 'extension';
    if ('extensionId' in route) {
      await this.get(accountId, route.extensionId);
      columns = { ...none, extension_id: route.extensionId };
    } else if ('applicationId' in route) {
      notFound = 'application';
      if (!(await this.store.applications.find(accountId, route.applicationId))) {
        throw new DialplaneError('not_found', 'application not found', { field: 'application_id' });
      }
      columns = { ...none, application_id: route.applicationId };
    } else if ('forwardTo' in route) {
      const forwardTo = normalizePhoneNumber(route.forwardTo, this.defaultCountry, 'forward_to');
      if (forwardTo === e164) {
        throw new DialplaneError('validation_failed', 'forward_to cannot be the number itself', { field: 'forward_to' });
      }
      columns = { ...none, forward_to: forwardTo };
    } else if ('answer' in route) {
      columns = { ...none, answer_here: 1 };
    } else {
      columns = none;
    }
    const routesSomewhere =
      columns.extension_id !== null || columns.forward_to !== null || columns.answer_here === 1 || columns.application_id !== null;
    if (row.voice !== 1 && routesSomewhere) {
      throw new DialplaneError('validation_failed', `${e164} does not take voice calls`, { field: 'number' });
    }
    const updated = await this.store.extensions.setRoute(accountId, row.id, columns);
    // Only a concurrent delete gets here: the target (or the number) went away between the checks and the write.
    if (!updated) throw new DialplaneError('not_found', `${notFound} not found`, { field: `${notFound}_id` });
    return toRouting(updated);
  }

  /** Where a number of the account rings (not_found for a number the account does not hold). */
  async getRoute(accountId: string, number: string): Promise<NumberRouting> {
    const e164 = normalizePhoneNumber(number, this.defaultCountry, 'number');
    const row = await this.store.extensions.findNumber(e164);
    if (!row || row.account_id !== accountId) throw new DialplaneError('not_found', 'number not found', { field: 'number' });
    return toRouting(row);
  }

  /** For inbound calls: who holds the number and where it rings, or undefined when no account holds it. */
  async routeOf(number: string): Promise<NumberRouting | undefined> {
    let e164 = number;
    if (!isE164(number)) {
      try {
        e164 = normalizePhoneNumber(number, this.defaultCountry, 'number');
      } catch {
        return undefined;
      }
    }
    const row = await this.store.extensions.findNumber(e164);
    return row ? toRouting(row) : undefined;
  }

  /** The account's numbers that route somewhere (an extension, a forward, answered here, an application). */
  async routes(accountId: string): Promise<NumberRouting[]> {
    return (await this.store.extensions.listRoutedNumbers(accountId)).map(toRouting);
  }

  private extensionName(given: string): string {
    const name = given.trim();
    if (!name || name.length > 100) {
      throw new DialplaneError('validation_failed', 'name must be 1 to 100 characters (or give a number)', { field: 'name' });
    }
    return name;
  }

  private extensionNumber(given: string): string {
    const number = given.trim();
    if (!EXTENSION_NUMBER.test(number)) {
      throw new DialplaneError('validation_failed', 'number must be 1 to 8 digits', { field: 'number' });
    }
    return number;
  }

  private notifyRemoved(deviceId: string): void {
    for (const listener of this.removedListeners) {
      try {
        listener(deviceId);
      } catch {
        // A listener's failure must not undo a delete that already happened.
      }
    }
  }
}

function numberTaken(number: string | null): DialplaneError {
  return new DialplaneError('conflict', `extension number ${number ?? ''} is already in use in this account`, { field: 'number' });
}

function generateUsername(): string {
  let out = '';
  for (let i = 0; i < GENERATED_USERNAME_LENGTH; i++) out += USERNAME_ALPHABET[randomInt(USERNAME_ALPHABET.length)];
  return out;
}

function srtpPolicy(value: string): SrtpPolicy {
  if (!SRTP_POLICIES.includes(value as SrtpPolicy)) {
    throw new DialplaneError('validation_failed', 'srtp must be off, offer or require', { field: 'srtp' });
  }
  return value as SrtpPolicy;
}

export function toExtension(row: ExtensionRow): Extension {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    number: row.number ?? null,
    mobile: row.mobile ?? null,
    srtp: SRTP_POLICIES.includes(row.srtp as SrtpPolicy) ? (row.srtp as SrtpPolicy) : 'off',
    createdAt: row.created_at,
  };
}

export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    accountId: row.account_id,
    extensionId: row.extension_id,
    username: row.username,
    realm: row.realm,
    createdAt: row.created_at,
  };
}

function toRouting(row: RoutedPhoneNumberRow): NumberRouting {
  return {
    accountId: row.account_id,
    numberId: row.id,
    number: row.number,
    extensionId: row.extension_id,
    forwardTo: row.forward_to,
    answer: Number(row.answer_here) === 1,
    applicationId: row.application_id ?? null,
  };
}

function toDeviceBinding(row: SipRegistrationRow): DeviceBinding {
  return {
    deviceId: row.device_id,
    accountId: row.account_id,
    extensionId: row.extension_id,
    key: row.binding_key,
    uri: row.uri,
    instance: row.instance ?? undefined,
    transport: row.transport === 'tcp' || row.transport === 'tls' ? row.transport : 'udp',
    address: row.address,
    port: Number(row.port),
    callId: row.call_id,
    cseq: Number(row.cseq),
    expiresAt: Date.parse(row.expires_at),
  };
}
