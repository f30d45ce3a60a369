import type { Delivery, Endpoint } from '../../../core/webhooks.js';
import type { DashboardRoutes } from '../dashboard.js';
import { html } from '../html.js';
import { actionButton, page, postForm, readOnlyNote, table, time, url, type Viewer } from '../layout.js';
import { revealBox } from './key-pages.js';

function owner(endpoint: Endpoint): string {
  if (endpoint.owner === null) return 'account';
  const [kind, id] = endpoint.owner.split(':');
  return `${(kind ?? '').replace('_', ' ')} ${id ?? ''}`.trim();
}

function endpointRow(viewer: Viewer, e: Endpoint) {
  const toggle = e.status === 'enabled'
    ? actionButton(viewer, url(`/webhooks/endpoints/${e.id}/disable`), 'Disable', `Disable endpoint ${e.url}`)
    : actionButton(viewer, url(`/webhooks/endpoints/${e.id}/enable`), 'Enable', `Enable endpoint ${e.url}`);
  return html`<tr><td><code>${e.url}</code>${e.description ? html`<br><span class="muted small">${e.description}</span>` : ''}</td>
<td>${e.eventTypes.map((t) => html`<code>${t}</code> `)}</td><td>${owner(e)}</td><td>${e.format}</td>
<td><span class="state state-${e.status === 'enabled' ? 'up' : 'down'}">${e.status}</span>${e.disabledReason ? html`<br><span class="small">${e.disabledReason}</span>` : ''}</td>
<td>${toggle} ${actionButton(viewer, url(`/webhooks/endpoints/${e.id}/delete`), 'Delete', `Delete endpoint ${e.url}`, true)}</td></tr>`;
}

function deliveryRow(d: Delivery) {
  return html`<tr><td><a href="${url(`/webhooks/deliveries/${d.id}`)}">${d.id}</a></td><td>${time(d.createdAt)}</td><td><code>${d.eventType}</code></td><td><code>${d.url}</code></td>
<td><span class="state state-${d.status}">${d.status}</span></td><td class="num">${d.attempts}</td><td>${d.lastStatusCode ?? d.lastError ?? '—'}</td></tr>`;
}

/** Webhook endpoints with their subscriptions (event types), and the delivery log with attempts and re-send. */
export function registerWebhookPages(routes: DashboardRoutes): void {
  const { services } = routes.deps;

  routes.page('/webhooks', async ({ viewer, flash, reveal, query }) => {
    const accountId = viewer.user.accountId;
    const status = ['pending', 'delivering', 'delivered', 'failed', 'cancelled'].includes(query.status ?? '') ? (query.status as Delivery['status']) : undefined;
    const [endpoints, deliveries] = await Promise.all([
      services.webhooks.listEndpoints(accountId),
      services.webhooks.listDeliveries({ accountId, limit: 50, ...(status ? { status } : {}) }),
    ]);
    const form = viewer.canWrite
      ? postForm(
          viewer,
          url('/webhooks/endpoints'),
          html`<fieldset><legend>New endpoint</legend><div class="fields">
<div><label for="wh-url">URL</label><input id="wh-url" name="url" type="url" required></div>
<div><label for="wh-events">Event types (comma-separated)</label><input id="wh-events" name="events" value="call.*" aria-describedby="wh-events-help"><span id="wh-events-help" class="muted small">e.g. call.answered, call.*, sms.*, or *</span></div>
<div><label for="wh-description">Description</label><input id="wh-description" name="description" maxlength="200"></div>
</div><button type="submit">Add endpoint</button></fieldset>`,
        )
      : '';
    const filter = html`<form method="get" action="${url('/webhooks')}" class="inline filter"><label for="wh-status">Show</label>
<select id="wh-status" name="status"><option value="">every status</option>${['pending', 'delivering', 'delivered', 'failed', 'cancelled'].map(
      (s) => html`<option${s === status ? html` selected` : ''}>${s}</option>`,
    )}</select><button type="submit">Filter</button></form>`;
    return page(
      viewer,
      '/webhooks',
      'Webhooks',
      html`${revealBox(reveal)}${readOnlyNote(viewer)}${form}
<h2>Endpoints and their subscriptions</h2>
${table('Webhook endpoints', ['URL', 'Events', 'Owner', 'Format', 'Status', ''], endpoints.map((e) => endpointRow(viewer, e)), 'No endpoints yet.')}
<h2>Delivery log</h2>${filter}
${table('The 50 latest deliveries, newest first', ['Delivery', 'Created', 'Event', 'URL', 'Status', 'Attempts', 'Last answer'], deliveries.map(deliveryRow), 'No deliveries.')}`,
      flash,
    );
  });

  routes.action('/webhooks/endpoints', async ({ viewer, body, flash, reveal }) => {
    const events = (body.events ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const endpoint = await services.webhooks.createEndpoint(viewer.user.accountId, {
      url: body.url ?? '',
      eventTypes: events.length ? events : ['*'],
      description: body.description?.trim() ?? '',
    });
    flash('ok', `Endpoint ${endpoint.url} added.`);
    reveal({ label: 'Signing secret of the new endpoint', secret: endpoint.secret, note: 'Deliveries are signed with it (X-Dialplane-Signature). It is shown this once.' });
    return '/webhooks';
  });

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    routes.action(`/webhooks/endpoints/:id/${action}`, async ({ viewer, params, flash }) => {
      const endpoint = await services.webhooks.setEnabled(viewer.user.accountId, params.id ?? '', enabled);
      flash('ok', `Endpoint ${endpoint.url} ${enabled ? 'enabled' : 'disabled'}.`);
      return '/webhooks';
    });
  }

  routes.action('/webhooks/endpoints/:id/delete', async ({ viewer, params, flash }) => {
    await services.webhooks.deleteEndpoint(viewer.user.accountId, params.id ?? '');
    flash('ok', 'Endpoint deleted.');
    return '/webhooks';
  });

  routes.page('/webhooks/deliveries/:id', async ({ viewer, params, flash }) => {
    const { delivery, payload, attempts } = await services.webhooks.getDelivery(params.id ?? '', viewer.user.accountId);
    let pretty = payload;
    try {
      pretty = JSON.stringify(JSON.parse(payload), null, 2);
    } catch {
      // Not JSON (a face's plain format): shown as sent.
    }
    return page(
      viewer,
      '/webhooks',
      `Delivery ${delivery.id}`,
      html`<p><a href="${url('/webhooks')}">Back to webhooks</a></p>
<dl class="summary">
<div><dt>Event</dt><dd><code>${delivery.eventType}</code> ${delivery.eventId}</dd></div>
<div><dt>URL</dt><dd><code>${delivery.url}</code></dd></div>
<div><dt>Status</dt><dd><span class="state state-${delivery.status}">${delivery.status}</span>${delivery.finalReason ? ` (${delivery.finalReason})` : ''}</dd></div>
<div><dt>Next attempt</dt><dd>${time(delivery.nextAttemptAt)}</dd></div>
</dl>
${actionButton(viewer, url(`/webhooks/deliveries/${delivery.id}/resend`), 'Re-send', `Re-send delivery ${delivery.id}`)}
<h2>Attempts</h2>
${table(
  'Every attempt of this delivery',
  ['#', 'Started', 'Result', 'Status code', 'Latency', 'Error'],
  attempts.map(
    (a) => html`<tr><td>${a.attempt}</td><td>${time(a.startedAt)}</td><td>${a.result}</td><td>${a.statusCode ?? '—'}</td><td class="num">${a.latencyMs} ms</td><td>${a.error ?? ''}</td></tr>`,
  ),
  'No attempt yet.',
)}
<h2>Payload</h2><pre class="payload">${pretty}</pre>`,
      flash,
    );
  });

  routes.action('/webhooks/deliveries/:id/resend', async ({ viewer, params, flash }) => {
    const copy = await services.webhooks.resend(params.id ?? '', viewer.user.accountId);
    flash('ok', `Sent again as delivery ${copy.id}.`);
    return `/webhooks/deliveries/${copy.id}`;
  });
}
