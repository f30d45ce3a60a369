import type { TransferRequest, TransferResult } from '../core/calls/call-engine.js';
import type { IncomingRefer, ReferResult } from '../sip/dialog/refer.js';

/** A REFER received in a leg's dialog, as call control sees it (core knows no SIP beyond status codes). */
export function transferRequestOf(refer: IncomingRefer): TransferRequest {
  const { uri } = refer.referTo;
  const target = uri.scheme === 'tel' ? `tel:${uri.host}` : `${uri.scheme}:${uri.user === undefined ? '' : `${uri.user}@`}${uri.host}${uri.port === undefined ? '' : `:${uri.port}`}`;
  return {
    target,
    user: uri.scheme === 'tel' ? uri.host : uri.user,
    host: uri.scheme === 'tel' ? undefined : uri.host.replace(/^\[|\]$/g, ''),
    attended: refer.replaces !== undefined,
    method: refer.method,
    accept: () => refer.accept(),
    refuse: (status, reason) => refer.refuse(status, reason),
    report: (status, reason) => refer.notify(status, reason),
  };
}

/** How a REFER of ours came out, in call control's terms. */
export function transferResultOf(result: ReferResult): TransferResult {
  switch (result.kind) {
    case 'notified':
      return result.status >= 200 && result.status < 300
        ? { outcome: 'completed' }
        : { outcome: 'failed', status: result.status, reason: result.reason };
    case 'refused':
      return { outcome: 'refused', status: result.status, reason: result.reason };
    case 'timeout':
      return { outcome: 'timeout' };
    case 'ended':
      return { outcome: 'ended' };
  }
}
