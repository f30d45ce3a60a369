import type { ApiKeyInfo } from '../../../core/api-keys.js';
import type { DashboardRoutes, Reveal } from '../dashboard.js';
import { html, type HtmlValue } from '../html.js';
import { actionButton, page, postForm, readOnlyNote, table, time, type Viewer } from '../layout.js';

/** A secret shown once, with a copy button (the script copies the text of the element it names). */
export function revealBox(reveal: Reveal | undefined): HtmlValue {
  if (!reveal) return '';
  return html`<section class="reveal" aria-labelledby="reveal-title">
<h2 id="reveal-title">${reveal.label}</h2>
<p>${reveal.note}</p>
<div class="secret-row"><code id="revealed-secret" class="secret">${reveal.secret}</code>
<button type="button" class="copy" data-copy="revealed-secret">Copy</button><span class="copied" role="status" aria-live="polite"></span></div>
</section>`;
}

function keyStatus(key: ApiKeyInfo, nowMs: number): string {
  if (!key.enabled) return 'revoked';
  if (key.expiresAt !== null && Date.parse(key.expiresAt) <= nowMs) return 'expired';
  return 'active';
}

function keyRow(viewer: Viewer, key: ApiKeyInfo, nowMs: number): HtmlValue {
  const status = keyStatus(key, nowMs);
  return html`<tr data-key-id="${key.id}">
<td>${key.name}</td><td><code>…${key.last4}</code></td><td>${key.permission === 'full' ? 'full' : 'read only'}</td>
<td><span class="state state-${status}">${status}</span></td><td>${time(key.expiresAt)}</td><td>${time(key.lastUsedAt)}</td><td>${time(key.createdAt)}</td>
<td>${status === 'revoked' ? '' : actionButton(viewer, `/dashboard/keys/${key.id}/revoke`, 'Revoke', `Revoke key ${key.name}`, true)}</td>
</tr>`;
}

export function registerKeyPages(routes: DashboardRoutes): void {
  const { services } = routes.deps;

  routes.page('/keys', async ({ viewer, flash, reveal }) => {
    const keys = (await services.keys.list(viewer.user.accountId)).filter((key) => key.appId === null);
    const now = Date.now();
    const form = viewer.canWrite
      ? postForm(
          viewer,
          '/dashboard/keys',
          html`<fieldset><legend>New API key</legend>
<div class="fields">
<div><label for="key-name">Name</label><input id="key-name" name="name" required maxlength="100" autocomplete="off"></div>
<div><label for="key-permission">Permission</label><select id="key-permission" name="permission"><option value="full">Full</option><option value="read_only">Read only</option></select></div>
<div><label for="key-expires">Expires on (UTC, optional)</label><input id="key-expires" name="expires" type="date"></div>
</div>
<button type="submit">Create key</button></fieldset>`,
        )
      : '';
    return page(
      viewer,
      '/keys',
      'API keys',
      html`${revealBox(reveal)}${readOnlyNote(viewer)}${form}
${table(
  'API keys of this account',
  ['Name', 'Key', 'Permission', 'Status', 'Expires', 'Last used', 'Created', ''],
  keys.map((key) => keyRow(viewer, key, now)),
  'No API keys yet.',
)}`,
      flash,
    );
  });

  routes.action('/keys', async ({ viewer, body, flash, reveal }) => {
    const expires = body.expires?.trim();
    const { key, token } = await services.keys.create(viewer.user.accountId, {
      name: body.name ?? '',
      permission: body.permission === 'read_only' ? 'read_only' : 'full',
      expiresAt: expires ? `${expires}T23:59:59.999Z` : null,
      userId: viewer.user.id,
    });
    flash('ok', `Key ${key.name} created.`);
    reveal({ label: `Your new key "${key.name}"`, secret: token, note: 'Copy it now: it is shown this once and cannot be shown again.' });
    return '/keys';
  });

  routes.action('/keys/:id/revoke', async ({ viewer, params, flash }) => {
    const key = await services.keys.revoke(viewer.user.accountId, params.id ?? '');
    flash('ok', `Key ${key.name} revoked: requests with it are refused from now on.`);
    return '/keys';
  });
}
