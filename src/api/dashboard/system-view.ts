import type { Services } from '../../core/services.js';
import { QualityLog } from '../../media/quality-log.js';
import type { Messaging } from '../../messaging.js';
import type { Telephony, TelephonyOptions } from '../../telephony.js';
import type { SystemView } from './dashboard.js';

/** The running engines as the status and extensions pages read them. */
export function systemViewOf(telephony: Telephony, messaging: Messaging | undefined): SystemView {
  return {
    trunks: () => telephony.trunkStatus,
    smsc: () => (messaging ? { state: messaging.carrier.state, queued: messaging.carrier.queued, inFlight: messaging.carrier.inFlight } : undefined),
    registrations: (deviceIds) => telephony.registrar.contactsFor(deviceIds),
    registrationCount: () => telephony.registrar.size,
    liveCalls: () => telephony.engine.activeCalls,
  };
}

/**
 * Samples every answered leg's reception (what its RTCP reports carry) from its answer to its end, for the call
 * timeline's chart. `onAnswered` goes into the telephony options.
 */
export function callQualityRecorder(services: Services): { log: QualityLog; onAnswered: NonNullable<TelephonyOptions['onAnswered']> } {
  const log = new QualityLog();
  return {
    log,
    onAnswered: (call, media) => {
      log.track(call.id, media);
      const stop = services.calls.watch(call.id, (update) => {
        if (update.type === 'event' && update.event.state === 'ended') {
          stop();
          log.stop(call.id);
        }
      });
    },
  };
}
