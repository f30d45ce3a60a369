import type { DashboardRoutes } from '../dashboard.js';
import { html } from '../html.js';
import { page, table } from '../layout.js';

/** How far the webhook backlog is counted before it shows as "n or more". */
const BACKLOG_COUNT_LIMIT = 500;

/** System status: trunks by their OPTIONS answers, the SMSC link, registrations, live calls, the webhook backlog. */
export function registerStatusPage(routes: DashboardRoutes): void {
  const { services, system } = routes.deps;

  routes.page('/status', async ({ viewer, flash }) => {
    const accountId = viewer.user.accountId;
    const [pending, failed] = await Promise.all([
      services.webhooks.listDeliveries({ accountId, status: 'pending', limit: BACKLOG_COUNT_LIMIT }),
      services.webhooks.listDeliveries({ accountId, status: 'failed', limit: BACKLOG_COUNT_LIMIT }),
    ]);
    const count = (n: number) => (n >= BACKLOG_COUNT_LIMIT ? `${BACKLOG_COUNT_LIMIT} or more` : String(n));
    const trunks = system?.trunks() ?? [];
    const smsc = system?.smsc();
    const reach = (reachable: boolean | undefined) =>
      reachable === undefined ? html`<span class="state state-unknown">not asked yet</span>` : reachable ? html`<span class="state state-up">answers OPTIONS</span>` : html`<span class="state state-down">no answer</span>`;
    return page(
      viewer,
      '/status',
      'System status',
      html`<dl class="summary big">
<div><dt>Live calls (this server)</dt><dd id="live-calls">${system ? system.liveCalls() : '—'}</dd></div>
<div><dt>Registered contacts</dt><dd id="registrations">${system ? system.registrationCount() : '—'}</dd></div>
<div><dt>SMSC</dt><dd id="smsc">${smsc ? html`<span class="state state-${smsc.state === 'bound' ? 'up' : 'down'}">${smsc.state}</span>` : 'not running'}</dd></div>
<div><dt>Webhook backlog</dt><dd id="webhook-backlog">${count(pending.length)} waiting</dd></div>
<div><dt>Failed deliveries</dt><dd>${count(failed.length)}</dd></div>
</dl>
${smsc ? html`<p class="muted">SMS parts queued: ${smsc.queued}, awaiting the SMSC's answer: ${smsc.inFlight}.</p>` : ''}
<h2>Trunks</h2>
${table(
  'SIP trunks, in failover order',
  ['Trunk', 'Reachable', 'Registered', 'Last error'],
  trunks.map(
    (t) => html`<tr><td>${t.name}</td><td>${reach(t.reachable)}</td><td>${t.registered === undefined ? '—' : t.registered ? 'yes' : 'no'}</td><td>${t.lastError ?? ''}</td></tr>`,
  ),
  system ? 'No trunks configured.' : 'Telephony does not run in this server.',
)}`,
      flash,
    );
  });
}
