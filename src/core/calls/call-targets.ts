import { isIP } from 'node:net';
import { DialplaneError } from '../../errors.js';
import { normalizePhoneNumber } from '../phone-number.js';
import type { Services } from '../services.js';
import type { DeviceContact } from './call-engine.js';
import type { DialTarget } from './program.js';
import { defaultPort } from '../../sip/transport/types.js';

/** One leg to place: the number it is rung for, the device it goes to (none: through the trunk), its price. */
export interface LegPlan {
  readonly to: string;
  readonly contact?: DeviceContact;
  /** Per started minute; null for a leg that is not billed (a registered device). */
  readonly priceMinor: number | null;
}

/** The Contacts of devices registered now (the registrar's bindings). */
export type DeviceContacts = (deviceIds: readonly string[]) => DeviceContact[];

/**
 * The legs a list of targets rings: a number through the trunk, priced by the number dialled; an extension (by id or
 * by its number) rings every registered Contact of its devices (free) and its mobile through the trunk (priced); a
 * SIP URI is sent straight to its host, priced like the number in its user part.
 */
export async function planLegs(
  services: Services,
  contacts: DeviceContacts,
  accountId: string,
  targets: readonly DialTarget[],
  rungFor: string,
): Promise<LegPlan[]> {
  const plans: LegPlan[] = [];
  for (const target of targets) {
    if (target.type === 'phone') {
      const to = normalizePhoneNumber(target.number, services.defaultCountry, 'number');
      plans.push({ to, priceMinor: await services.prices.lookup('voice', accountId, to) });
    } else if (target.type === 'extension') {
      const extension = await services.extensions.resolve(accountId, target.extension);
      const devices = await services.extensions.listDevices(accountId, extension.id);
      for (const contact of contacts(devices.map((device) => device.id))) {
        plans.push({ to: rungFor, contact: { ...contact, srtp: extension.srtp }, priceMinor: null });
      }
      if (extension.mobile !== null) {
        plans.push({ to: extension.mobile, priceMinor: await services.prices.lookup('voice', accountId, extension.mobile) });
      }
    } else {
      const contact = sipContact(target.sipUri);
      plans.push({ to: contact.user, contact: contact.contact, priceMinor: await services.prices.lookup('voice', accountId, contact.user) });
    }
  }
  return plans;
}

/**
 * What calling one of the account's numbers reaches: its extension (when a device of it is registered or it has a
 * mobile), else the
 * number it forwards to, else the number itself through the trunk.
 */
export async function reachOfNumber(services: Services, contacts: DeviceContacts, accountId: string, number: string): Promise<DialTarget[]> {
  const route = await services.extensions.routeOf(number);
  if (!route || route.accountId !== accountId) return [{ type: 'phone', number }];
  if (route.extensionId) {
    const extension = await services.extensions.get(accountId, route.extensionId);
    const devices = await services.extensions.listDevices(accountId, route.extensionId);
    if (extension.mobile !== null || contacts(devices.map((device) => device.id)).length > 0) {
      return [{ type: 'extension', extension: route.extensionId }];
    }
  }
  return [{ type: 'phone', number: route.forwardTo ?? number }];
}

/** sip:user@host[:port][;transport=tcp|tls] (or sips:) with a literal IP address: a leg sent straight there. */
function sipContact(uri: string): { user: string; contact: DeviceContact } {
  const match = /^sips?:([^@;]+)@(\[[^\]]+\]|[^:;]+)(?::(\d+))?(;.*)?$/i.exec(uri);
  const host = match?.[2]?.replace(/^\[|\]$/g, '');
  if (!match || !host || isIP(host) === 0) {
    throw new DialplaneError('validation_failed', 'sipUri must be sip:user@address[:port] with an IP address', { field: 'sipUri' });
  }
  const transport = /^sips:/i.test(uri) || /;transport=tls/i.test(match[4] ?? '') ? 'tls' : /;transport=tcp/i.test(match[4] ?? '') ? 'tcp' : 'udp';
  return { user: match[1]!, contact: { uri, transport, address: host, port: Number(match[3] ?? defaultPort(transport)) } };
}

/**
 * What a transfer the far end of a leg asks for (a REFER) may reach: one of the account's extensions by its number,
 * else a phone number (the Refer-To's user part, or a tel: URI's number), placed through the trunk whatever host the
 * URI names. Anything else is refused (validation_failed): a peer must not make Dialplane send INVITEs, billed to
 * the account, to hosts of its choosing.
 */
export async function transferTarget(
  services: Services,
  accountId: string,
  request: { readonly user: string | undefined },
): Promise<DialTarget> {
  const user = request.user?.trim();
  if (!user) throw new DialplaneError('validation_failed', 'the transfer target names no number', { field: 'target' });
  const extension = await services.extensions.findByNumber(accountId, user);
  if (extension) return { type: 'extension', extension: extension.id };
  return { type: 'phone', number: normalizePhoneNumber(user, services.defaultCountry, 'target') };
}
