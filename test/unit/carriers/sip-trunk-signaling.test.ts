import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SipTrunkSignaling } from '../../../src/carriers/sip-trunk-signaling.js';
import { parseTrunks } from '../../../src/carriers/trunks.js';
import type { LegEvents } from '../../../src/core/calls/call-engine.js';
import { MediaHost } from '../../../src/media/workers/media-host.js';
import { negotiateAnswer, parseSdp } from '../../../src/sdp/index.js';
import type { SipUri } from '../../../src/sip/message/types.js';
import type { OutboundInviteEvents, OutboundInviteOptions } from '../../../src/sip/ua/outbound-invite.js';
import type { SipUserAgent } from '../../../src/sip/ua/user-agent.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CONTACT: SipUri = { scheme: 'sip', user: undefined, password: undefined, host: '127.0.0.1', port: 5060, params: [], headers: [] };

/** Stands in for the SIP stack: it keeps what an INVITE was given, as its transaction does for 64*T1 after a 2xx. */
function keepingUserAgent() {
  const kept: Array<{ options: Omit<OutboundInviteOptions, 'stack'>; events: OutboundInviteEvents }> = [];
  const ua = {
    contact: () => CONTACT,
    invite: (options: Omit<OutboundInviteOptions, 'stack'>, events: OutboundInviteEvents) => {
      kept.push({ options, events });
      return { callId: `call-${kept.length}@127.0.0.1`, hangup: () => undefined, refer: () => undefined };
    },
  } as unknown as SipUserAgent;
  return { ua, kept };
}

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return ref.deref() === undefined;
}

test('a trunk leg that ended lets go of the engine\'s events and its media while the SIP stack still holds the INVITE (call state no longer kept 64*T1)', async (t) => {
  const { ua, kept } = keepingUserAgent();
  const trunks = parseTrunks({ uri: 'sip:127.0.0.1:5999', username: undefined, password: undefined, register: false, callerIdFormat: 'e164', prefix: undefined });
  const rtpPorts = new MediaHost({ workers: 1, host: '127.0.0.1', ports: { min: 41000, max: 41999 } });
  t.after(() => rtpPorts.close());
  const signaling = new SipTrunkSignaling(ua, trunks, rtpPorts, '127.0.0.1', 0, async () => [
    { transport: 'udp', address: '127.0.0.1', port: 5999 },
  ]);
  const heard: string[] = [];
  let started!: () => void;
  const whenStarted = new Promise<void>((resolve) => (started = resolve));
  // Only WeakRefs to the events and the leg's media stay here: whatever else keeps them alive is the signalling's doing.
  let mediaRef: WeakRef<object> | undefined;
  const ref = ((): WeakRef<LegEvents> => {
    const events: LegEvents = {
      onStarted: () => {
        heard.push('started');
        started();
      },
      onProgress: (state) => heard.push(state),
      onAnswered: (status, _reason, media) => {
        heard.push(`answered ${status}`);
        if (media) mediaRef = new WeakRef(media);
      },
      onFailed: () => heard.push('failed'),
      onEnded: (by) => heard.push(`ended ${by}`),
    };
    signaling.dial({ callId: 'call_1', from: '+972501234567', to: '+972521234567', trunk: 0 }, events);
    return new WeakRef(events);
  })();
  await whenStarted;
  const invite = kept[0]!;
  const answer = negotiateAnswer(parseSdp(invite.options.sdp.toString('utf8')), { address: '127.0.0.1', port: 42000 });
  invite.events.onProvisional(180, 'Ringing', undefined);
  invite.events.onAnswered(200, 'OK', Buffer.from(answer.answerSdp));
  invite.events.onEnded('remote');
  // A late event after the end (a retransmitted 2xx reaching a finished INVITE) is not passed on.
  invite.events.onEnded('remote');
  assert.deepEqual(heard, ['started', 'ringing', 'answered 200', 'ended remote']);
  assert.equal(await collected(ref), true, 'the ended leg\'s events are still reachable from what the SIP stack keeps');
  assert.ok(mediaRef, 'the answered leg had media');
  assert.equal(await collected(mediaRef), true, 'the ended leg\'s media is still reachable from what the SIP stack keeps');
  assert.equal(kept.length, 1);
});
