import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { systemClock } from './core/clock.js';
import type { Services } from './core/services.js';
import { WorkClaim } from './core/work-claim.js';
import { DevSmsc } from './sms/dev-smsc.js';
import { parseSmppUrl, SmppCarrier, type SmppCarrierState, type SmppReceiver } from './sms/smpp-carrier.js';
import { isDatabaseUnavailable } from './store/database-outage.js';

/** The SMSC link as the status pages show it; `standby` while another node holds the account's bind. */
export interface SmscView {
  readonly state: SmppCarrierState | 'standby';
  readonly queued: number;
  readonly inFlight: number;
}

export interface Messaging {
  readonly carrier: SmscView;
  /** The SMSC account this node sends through (`system_id@host:port`). */
  readonly account: string;
  /** Whether this node holds the account's bind now. */
  readonly bound: () => boolean;
  /** Present with DIALPLANE_SMSC=dev. */
  readonly devSmsc: DevSmsc | undefined;
  close(): Promise<void>;
}

/** How often the node holding the bind looks for messages other nodes stored for it. */
export const HANDED_OVER_PICKUP_MS = 1_000;

/** The account several nodes share one bind of: the SMSC and the system id bound as. */
export function smscAccountOf(url: string): string {
  const { systemId, host, port } = parseSmppUrl(url);
  return `${systemId}@${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Composition of SMS: the dev SMSC when configured, the SMPP carrier bound to the SMSC, receipts and inbound
 * messages handed to the SMS service, each answered to the SMSC only once stored (a temporary error when it could
 * not be, so the SMSC delivers it again). An SMSC that does not answer at start does not stop the server: the
 * carrier keeps reconnecting, and messages wait in its queue.
 *
 * Of the nodes sharing one database, one at a time binds to an SMSC account: the one holding the work claim
 * `smpp:<account>`. The others store the messages they accept `queued` for that account, and the holder takes them up
 * (every HANDED_OVER_PICKUP_MS); when the holder stops or dies, another node binds within about 4/3 of the node lease.
 */
export async function startMessaging(config: Config['sms'], services: Services, logger: Logger): Promise<Messaging> {
  let devSmsc: DevSmsc | undefined;
  let url = config.smsc;
  if (config.smsc === 'dev') {
    devSmsc = new DevSmsc({ host: '127.0.0.1', port: 0 });
    await devSmsc.start();
    url = devSmsc.url;
  }
  const account = smscAccountOf(url);
  let carrier: SmppCarrier | undefined;
  let pickup: NodeJS.Timeout | undefined;

  const pickUp = (): void => {
    services.sms.sendQueued().catch((err: unknown) => logger.warn({ err }, 'could not take up the SMS other nodes stored'));
  };

  const bind = async (): Promise<void> => {
    const link = newCarrier(url, config, services, logger, devSmsc !== undefined);
    carrier = link;
    services.sms.attachCarrier(link);
    logger.info({ smsc: account, node: services.node.nodeId }, 'this node holds the SMSC bind');
    try {
      await link.start();
    } catch (err) {
      logger.warn({ err }, 'the SMSC did not accept the first bind; retrying in the background');
    }
    const resumed = await services.sms.resumeUnsent();
    if (resumed > 0) logger.info({ resumed }, 'SMS left unsent by a node that is gone are being sent');
    pickUp();
    pickup = setInterval(pickUp, HANDED_OVER_PICKUP_MS);
    pickup.unref();
  };

  const unbind = async (): Promise<void> => {
    clearInterval(pickup);
    pickup = undefined;
    const link = carrier;
    carrier = undefined;
    // Detached first: submissions the stop cuts short stay queued for the next holder.
    services.sms.attachCarrier(undefined);
    await link?.stop();
    logger.info({ smsc: account }, 'this node no longer holds the SMSC bind');
  };

  services.sms.setSmscAccount(account);
  const claim = new WorkClaim(services.store.claims, systemClock, {
    name: `smpp:${account}`,
    holder: services.node.nodeId,
    leaseMs: services.node.leaseMs,
    onAcquired: bind,
    onLost: unbind,
    onError: (err: unknown, context: string) => logger.warn({ err }, context),
  });
  await claim.start();
  if (!claim.held) logger.info({ smsc: account }, 'another node holds the SMSC bind: SMS accepted here are sent by it');
  const stopSweep = services.node.onSweep(async () => {
    const taken = await services.sms.resumeOrphaned();
    if (taken > 0) logger.info({ resumed: taken }, 'SMS left unsent by a node whose lease ran out are being sent');
  });
  return {
    carrier: {
      get state() {
        return carrier?.state ?? 'standby';
      },
      get queued() {
        return carrier?.queued ?? 0;
      },
      get inFlight() {
        return carrier?.inFlight ?? 0;
      },
    },
    account,
    bound: () => claim.held,
    devSmsc,
    async close() {
      stopSweep();
      await claim.stop();
      services.sms.setSmscAccount(undefined);
      await devSmsc?.stop();
    },
  };
}

/**
 * Receipts and inbound messages handed to the SMS service. A promise that rejects (the store failed or the database
 * is away) makes the carrier answer the SMSC with a temporary error, so the SMSC delivers it again later.
 */
export function smsReceiver(services: Pick<Services, 'sms'>, logger: Logger): SmppReceiver {
  const notStored = (what: string) => (err: unknown): never => {
    if (isDatabaseUnavailable(err)) logger.warn({ err }, `the database is away: ${what} is left to the SMSC to deliver again`);
    else logger.error({ err }, `could not store ${what}; the SMSC is asked to deliver it again`);
    throw err;
  };
  return {
    receipt: (receipt) =>
      services.sms
        .onReceipt({ smscId: receipt.smscId, status: receipt.status, errorCode: receipt.err === '' ? null : receipt.err })
        .catch(notStored('an SMS receipt')),
    inbound: (message) =>
      services.sms
        .onInbound({ from: message.from, to: message.to, text: message.text, encoding: message.encoding, segments: message.parts })
        .then((stored) => {
          if (!stored) logger.info({ to: message.to }, 'inbound SMS for a number no account holds was dropped');
        }, notStored('an inbound SMS')),
  };
}

function newCarrier(url: string, config: Config['sms'], services: Services, logger: Logger, dev: boolean): SmppCarrier {
  const carrier = new SmppCarrier({
    url,
    windowSize: config.window,
    receiver: smsReceiver(services, logger),
    onError: (err: unknown) => logger.warn({ err }, 'SMPP error'),
  });
  carrier.on('state', (state: string, detail: { error?: unknown; retryInMs?: number }) => {
    if (state === 'bound') logger.info({ smsc: dev ? 'dev' : 'smpp' }, 'SMSC bound');
    else if (state === 'bind_failed' || state === 'disconnected') {
      logger.warn({ state, retryInMs: detail?.retryInMs, err: detail?.error }, 'SMSC link down');
    }
  });
  return carrier;
}
