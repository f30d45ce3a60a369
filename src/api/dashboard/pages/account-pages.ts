import type { SmsMessage } from '../../../core/sms.js';
import type { DashboardRoutes } from '../dashboard.js';
import { html } from '../html.js';
import { credits, page, table, time, url } from '../layout.js';

/** Credits (balance, holds, ledger) and messages (with each one's status history). */
export function registerAccountPages(routes: DashboardRoutes): void {
  const { services } = routes.deps;

  routes.page('/credits', async ({ viewer, flash }) => {
    const accountId = viewer.user.accountId;
    const balance = await services.credits.balance(accountId);
    const entries = await services.credits.entries(accountId, 100);
    return page(
      viewer,
      '/credits',
      'Credits',
      html`<dl class="summary big">
<div><dt>Balance</dt><dd id="balance">${credits(balance.balanceMinor)}</dd></div>
<div><dt>Held for live calls and messages</dt><dd>${credits(balance.heldMinor)}</dd></div>
<div><dt>Available</dt><dd>${credits(balance.availableMinor)}</dd></div>
</dl>
<p class="muted">Credits are added with <code>dialplane credits add</code> or the admin API.</p>
<h2>Ledger</h2>
${table(
  'The 100 latest ledger entries, newest first',
  ['When', 'Kind', 'Amount', 'Balance after', 'Description', 'Reference'],
  entries.map(
    (e) => html`<tr><td>${time(e.createdAt)}</td><td>${e.kind}</td><td class="num">${credits(e.amountMinor)}</td><td class="num">${credits(e.balanceAfterMinor)}</td><td>${e.description}</td><td>${e.reference ?? ''}</td></tr>`,
  ),
  'No ledger entries yet.',
)}`,
      flash,
    );
  });

  const messageRow = (m: SmsMessage) =>
    html`<tr><td><a href="${url(`/messages/${m.id}`)}">${m.id}</a></td><td>${time(m.createdAt)}</td><td>${m.direction}</td><td>${m.from}</td><td>${m.to}</td><td><span class="state state-${m.status}">${m.status}</span></td><td>${m.segments}</td><td class="num">${credits(m.priceMinor)}</td></tr>`;

  routes.page('/messages', async ({ viewer, flash }) => {
    const list = await services.sms.list(viewer.user.accountId, 50);
    return page(
      viewer,
      '/messages',
      'Messages',
      table('The 50 latest messages, newest first', ['Message', 'Created', 'Direction', 'From', 'To', 'Status', 'Parts', 'Price'], list.map(messageRow), 'No messages yet.'),
      flash,
    );
  });

  routes.page('/messages/:id', async ({ viewer, params, flash }) => {
    const accountId = viewer.user.accountId;
    const message = await services.sms.get(accountId, params.id ?? '');
    const history = await services.sms.history(accountId, message.id);
    return page(
      viewer,
      '/messages',
      `Message ${message.id}`,
      html`<p><a href="${url('/messages')}">All messages</a></p>
<dl class="summary">
<div><dt>From</dt><dd>${message.from}</dd></div><div><dt>To</dt><dd>${message.to}</dd></div>
<div><dt>Status</dt><dd><span class="state state-${message.status}">${message.status}</span></dd></div>
<div><dt>Encoding</dt><dd>${message.encoding}, ${message.segments} part(s)</dd></div>
<div><dt>Price</dt><dd>${credits(message.priceMinor)}</dd></div>
<div><dt>Error</dt><dd>${message.errorCode ?? '—'}</dd></div>
</dl>
<h2>Text</h2><blockquote class="sms">${message.body}</blockquote>
<h2>Status history</h2>
<ol class="timeline">${history.map((h) => html`<li>${time(h.at)} <strong>${h.status}</strong>${h.errorCode ? ` (error ${h.errorCode})` : ''}</li>`)}</ol>`,
      flash,
    );
  });
}
