import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dialog, type DialogInit } from '../../../../src/sip/dialog/dialog.js';
import { parseNameAddr } from '../../../../src/sip/message/headers.js';
import type { SipEndpoint } from '../../../../src/sip/transport/types.js';
import type { SipStack } from '../../../../src/sip/ua/sip-stack.js';

/**
 * Where a dialog's requests go: over the dialog's own TCP/TLS connection while it is open (a phone's flow), else
 * to the route set's first hop or the remote target, over the transport the URI names (sips: and transport=tls
 * are TLS, default port 5061).
 */
function dialog(options: { fallback: SipEndpoint; remoteTarget: string; routeSet?: string[]; open: boolean }): Dialog {
  const stack = { transports: { hasConnection: (endpoint: SipEndpoint) => options.open && endpoint === options.fallback } } as unknown as SipStack;
  const init: DialogInit = {
    callId: 'c',
    localTag: 'l',
    remoteTag: 'r',
    localUri: parseNameAddr('<sip:a@127.0.0.1>'),
    remoteUri: parseNameAddr('<sip:b@127.0.0.1>'),
    remoteTarget: options.remoteTarget,
    routeSet: options.routeSet ?? [],
    localSeq: 1,
    remoteSeq: undefined,
    contact: { scheme: 'sip', user: undefined, password: undefined, host: '127.0.0.1', port: 5061, params: [['transport', 'tls']], headers: [] },
    fallback: options.fallback,
  };
  return new Dialog(stack, init);
}

const flow: SipEndpoint = { transport: 'tls', address: '198.51.100.7', port: 40123 };

test('a TLS dialog with its connection open keeps to it, whatever the Contact says', () => {
  assert.equal(dialog({ fallback: flow, remoteTarget: 'sip:phone@10.0.0.5:5061;transport=tls', open: true }).nextHop(), flow);
});

test('once the connection is gone the Contact is used, over TLS, port 5061 by default', () => {
  assert.deepEqual(dialog({ fallback: flow, remoteTarget: 'sip:phone@10.0.0.5;transport=tls', open: false }).nextHop(), {
    transport: 'tls',
    address: '10.0.0.5',
    port: 5061,
  });
  assert.deepEqual(dialog({ fallback: flow, remoteTarget: 'sips:phone@10.0.0.5:5071', open: false }).nextHop(), {
    transport: 'tls',
    address: '10.0.0.5',
    port: 5071,
  });
});

test('a route set wins over the flow: the first Route is the next hop, its transport kept', () => {
  const hop = dialog({ fallback: flow, remoteTarget: 'sip:phone@10.0.0.5', routeSet: ['<sip:192.0.2.1;transport=tls;lr>'], open: true }).nextHop();
  assert.deepEqual(hop, { transport: 'tls', address: '192.0.2.1', port: 5061 });
});

test('a trunk dialog reached at its own address keeps the name its certificate is checked against', () => {
  const trunk: SipEndpoint = { transport: 'tls', address: '192.0.2.10', port: 5061, tls: { serverName: 'carrier.example', verify: true } };
  assert.deepEqual(dialog({ fallback: trunk, remoteTarget: 'sip:192.0.2.10:5061;transport=tls', open: false }).nextHop(), trunk);
  assert.deepEqual(dialog({ fallback: trunk, remoteTarget: 'sip:192.0.2.11:5061;transport=tls', open: false }).nextHop(), {
    transport: 'tls',
    address: '192.0.2.11',
    port: 5061,
  });
});

test('UDP dialogs are unchanged: the Contact, with the dialog transport when the URI names none', () => {
  const udp: SipEndpoint = { transport: 'udp', address: '198.51.100.7', port: 5060 };
  assert.deepEqual(dialog({ fallback: udp, remoteTarget: 'sip:phone@10.0.0.5:5062', open: true }).nextHop(), { transport: 'udp', address: '10.0.0.5', port: 5062 });
});
