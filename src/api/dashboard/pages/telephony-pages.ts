import type { NumberRoute, NumberRouting } from '../../../core/extensions.js';
import { DialplaneError } from '../../../errors.js';
import type { DashboardRoutes } from '../dashboard.js';
import { html, type HtmlValue } from '../html.js';
import { actionButton, page, postForm, readOnlyNote, table, time, url } from '../layout.js';
import { revealBox } from './key-pages.js';

function routeValue(routing: NumberRouting | undefined): string {
  if (!routing) return 'none';
  if (routing.extensionId) return `ext:${routing.extensionId}`;
  if (routing.applicationId) return `app:${routing.applicationId}`;
  if (routing.forwardTo) return 'forward';
  if (routing.answer) return 'answer';
  return 'none';
}

function parseRoute(value: string, forwardTo: string): NumberRoute {
  if (value === 'none') return { none: true };
  if (value === 'answer') return { answer: true };
  if (value === 'forward') return { forwardTo: forwardTo.trim() };
  if (value.startsWith('ext:')) return { extensionId: value.slice(4) };
  if (value.startsWith('app:')) return { applicationId: value.slice(4) };
  throw new DialplaneError('validation_failed', 'choose where the number rings', { field: 'route' });
}

/** Phone numbers with their routes, and extensions with each device's live registrations. */
export function registerTelephonyPages(routes: DashboardRoutes): void {
  const { services, system } = routes.deps;

  routes.page('/numbers', async ({ viewer, flash }) => {
    const accountId = viewer.user.accountId;
    const [numbers, routings, extensions, applications] = await Promise.all([
      services.numbers.list(accountId),
      services.extensions.routes(accountId),
      services.extensions.list(accountId),
      services.applications.list(accountId),
    ]);
    const byNumber = new Map(routings.map((r) => [r.number, r]));
    const extName = new Map(extensions.map((e) => [e.id, e.number ? `${e.name} (${e.number})` : e.name]));
    const appName = new Map(applications.map((a) => [a.id, a.name]));
    const describe = (routing: NumberRouting | undefined): string => {
      if (!routing) return 'nowhere (calls refused, 480)';
      if (routing.extensionId) return `extension ${extName.get(routing.extensionId) ?? routing.extensionId}`;
      if (routing.applicationId) return `application ${appName.get(routing.applicationId) ?? routing.applicationId}`;
      if (routing.forwardTo) return `forward to ${routing.forwardTo}`;
      if (routing.answer) return 'answered by Dialplane (live commands)';
      return 'nowhere (calls refused, 480)';
    };
    const rows = numbers.map((n, index) => {
      const routing = byNumber.get(n.number);
      const current = routeValue(routing);
      const option = (value: string, label: string): HtmlValue => html`<option value="${value}"${value === current ? html` selected` : ''}>${label}</option>`;
      const form =
        viewer.canWrite && n.capabilities.includes('voice')
          ? postForm(
              viewer,
              url(`/numbers/${encodeURIComponent(n.number)}/route`),
              html`<label for="route-${index}" class="sr-only">Route ${n.number} to</label>
<select id="route-${index}" name="route">${option('none', 'nowhere')}${option('answer', 'answer here')}${extensions.map((e) => option(`ext:${e.id}`, `extension ${extName.get(e.id)}`))}${applications.map((a) => option(`app:${a.id}`, `application ${a.name}`))}${option('forward', 'forward to…')}</select>
<label for="forward-${index}" class="sr-only">Forward ${n.number} to</label><input id="forward-${index}" name="forward_to" placeholder="+1… (forward only)" value="${routing?.forwardTo ?? ''}" inputmode="tel">
<button type="submit" aria-label="Save the route of ${n.number}">Save</button>`,
              html`class="inline route-form"`,
            )
          : '';
      return html`<tr><td>${n.number}</td><td>${n.type}</td><td>${n.capabilities.join(', ')}</td><td>${n.capabilities.includes('voice') ? describe(routing) : '—'}</td><td>${form}</td></tr>`;
    });
    return page(
      viewer,
      '/numbers',
      'Phone numbers',
      html`${readOnlyNote(viewer)}<p class="muted">Numbers are added with <code>dialplane numbers add</code>.</p>
${table('Numbers of this account and where their calls go', ['Number', 'Type', 'Capabilities', 'Calls go to', viewer.canWrite ? 'Change' : ''], rows, 'No numbers yet.')}`,
      flash,
    );
  });

  routes.action('/numbers/:number/route', async ({ viewer, params, body, flash }) => {
    const number = params.number ?? '';
    await services.extensions.route(viewer.user.accountId, number, parseRoute(body.route ?? '', body.forward_to ?? ''));
    flash('ok', `The route of ${number} was saved.`);
    return '/numbers';
  });

  routes.page('/extensions', async ({ viewer, flash, reveal }) => {
    const accountId = viewer.user.accountId;
    const [extensions, devices] = await Promise.all([services.extensions.list(accountId), services.extensions.listDevices(accountId)]);
    const contacts = system?.registrations(devices.map((d) => d.id)) ?? [];
    const now = Date.now();
    const sections = extensions.map((e) => {
      const own = devices.filter((d) => d.extensionId === e.id);
      const rows = own.map((d) => {
        const live = contacts.filter((c) => c.deviceId === d.id);
        const where = live.length
          ? html`<ul class="contacts">${live.map((c) => html`<li><span class="state state-up">registered</span> ${c.transport.toUpperCase()} ${c.address}:${c.port}, <code>${c.uri}</code>, ${Math.max(0, Math.round((c.expiresAt - now) / 1000))} s left</li>`)}</ul>`
          : html`<span class="state state-down">not registered</span>`;
        return html`<tr><td><code>${d.username}</code></td><td>${where}</td><td>${time(d.createdAt)}</td><td>${actionButton(viewer, url(`/devices/${d.id}/delete`), 'Remove', `Remove device ${d.username}`, true)}</td></tr>`;
      });
      return html`<section class="card" aria-labelledby="ext-${e.id}">
<h2 id="ext-${e.id}">${e.name}${e.number ? html` <span class="muted">extension ${e.number}</span>` : ''}</h2>
${e.mobile ? html`<p>Mobile ${e.mobile} rings with its devices.</p>` : ''}
${table(`Devices of ${e.name}`, ['SIP user', 'Registration', 'Added', ''], rows, 'No devices.')}
${viewer.canWrite ? postForm(viewer, url(`/extensions/${e.id}/devices`), html`<button type="submit">Add a device to ${e.name}</button>`) : ''}
</section>`;
    });
    const form = viewer.canWrite
      ? postForm(
          viewer,
          url('/extensions'),
          html`<fieldset><legend>New extension</legend><div class="fields">
<div><label for="ext-name">Name</label><input id="ext-name" name="name" maxlength="100"></div>
<div><label for="ext-number">Short number</label><input id="ext-number" name="number" inputmode="numeric" pattern="[0-9]{1,8}"></div>
<div><label for="ext-mobile">Mobile (optional)</label><input id="ext-mobile" name="mobile" inputmode="tel"></div>
</div><button type="submit">Create extension</button></fieldset>`,
        )
      : '';
    return page(
      viewer,
      '/extensions',
      'Extensions',
      html`${revealBox(reveal)}${readOnlyNote(viewer)}${form}${sections.length ? sections : html`<p class="empty">No extensions yet.</p>`}`,
      flash,
    );
  });

  routes.action('/extensions', async ({ viewer, body, flash }) => {
    const extension = await services.extensions.create(viewer.user.accountId, {
      name: body.name?.trim() || undefined,
      number: body.number?.trim() || undefined,
      mobile: body.mobile?.trim() || undefined,
    });
    flash('ok', `Extension ${extension.name} created.`);
    return '/extensions';
  });

  routes.action('/extensions/:id/devices', async ({ viewer, params, flash, reveal }) => {
    const { device, password } = await services.extensions.addDevice(viewer.user.accountId, params.id ?? '');
    flash('ok', `Device ${device.username} added.`);
    reveal({
      label: `SIP password of ${device.username}`,
      secret: password,
      note: `Register with user ${device.username}, realm ${device.realm}, and this password. It is shown this once.`,
    });
    return '/extensions';
  });

  // Devices are listed on the extensions page: a refused removal goes back there (there is no devices page).
  routes.action('/devices/:id/delete', async ({ viewer, params, flash }) => {
    const device = await services.extensions.deleteDevice(viewer.user.accountId, params.id ?? '');
    flash('ok', `Device ${device.username} removed.`);
    return '/extensions';
  }, '/extensions');
}
