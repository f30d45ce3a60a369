import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Services } from './core/services.js';
import { DevSmsc } from './sms/dev-smsc.js';
import { SmppCarrier } from './sms/smpp-carrier.js';

export interface Messaging {
  readonly carrier: SmppCarrier;
  /** Present with DIALPLANE_SMSC=dev. */
  readonly devSmsc: DevSmsc | undefined;
  close(): Promise<void>;
}

/**
 * Composition of SMS: the dev SMSC when configured, the SMPP carrier bound to the SMSC, receipts and inbound
 * messages handed to the SMS service. An SMSC that does not answer at start does not stop the server: the
 * carrier keeps reconnecting, and messages wait in its queue.
 */
export async function startMessaging(config: Config['sms'], services: Services, logger: Logger): Promise<Messaging> {
  let devSmsc: DevSmsc | undefined;
  let url = config.smsc;
  if (config.smsc === 'dev') {
    devSmsc = new DevSmsc({ host: '127.0.0.1', port: 0 });
    await devSmsc.start();
    url = devSmsc.url;
  }
  const carrier = new SmppCarrier({
    url,
    windowSize: config.window,
    onError: (err: unknown) => logger.warn({ err }, 'SMPP error'),
  });
  carrier.on('state', (state: string, detail: { error?: unknown; retryInMs?: number }) => {
    if (state === 'bound') logger.info({ smsc: devSmsc ? 'dev' : 'smpp' }, 'SMSC bound');
    else if (state === 'bind_failed' || state === 'disconnected') {
      logger.warn({ state, retryInMs: detail?.retryInMs, err: detail?.error }, 'SMSC link down');
    }
  });
  carrier.on('receipt', (receipt: { smscId: string; status: 'delivered' | 'undelivered' | 'failed' | 'sent'; err: string }) => {
    services.sms
      .onReceipt({ smscId: receipt.smscId, status: receipt.status, errorCode: receipt.err === '' ? null : receipt.err })
      .catch((err: unknown) => logger.error({ err }, 'could not record an SMS receipt'));
  });
  carrier.on(
    'inbound',
    (message: { from: string; to: string; text: string; encoding: 'GSM-7' | 'UCS-2' | 'LATIN-1' | 'binary'; parts: number }) => {
      services.sms
        .onInbound({ from: message.from, to: message.to, text: message.text, encoding: message.encoding, segments: message.parts })
        .then((stored) => {
          if (!stored) logger.info({ to: message.to }, 'inbound SMS for a number no account holds was dropped');
        })
        .catch((err: unknown) => logger.error({ err }, 'could not store an inbound SMS'));
    },
  );
  services.sms.attachCarrier(carrier);
  try {
    await carrier.start();
  } catch (err) {
    logger.warn({ err }, 'the SMSC did not accept the first bind; retrying in the background');
  }
  const resumed = await services.sms.resumeUnsent();
  if (resumed > 0) logger.info({ resumed }, 'SMS left unsent by a node that is gone are being sent');
  const stopSweep = services.node.onSweep(async () => {
    const taken = await services.sms.resumeOrphaned();
    if (taken > 0) logger.info({ resumed: taken }, 'SMS left unsent by a node whose lease ran out are being sent');
  });
  return {
    carrier,
    devSmsc,
    async close() {
      stopSweep();
      services.sms.attachCarrier(undefined);
      await carrier.stop();
      await devSmsc?.stop();
    },
  };
}
