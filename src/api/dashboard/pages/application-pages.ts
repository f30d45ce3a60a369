import type { Application } from '../../../core/applications.js';
import { isDialplaneError } from '../../../errors.js';
import type { DashboardRoutes } from '../dashboard.js';
import { html, type HtmlValue } from '../html.js';
import { actionButton, page, postForm, readOnlyNote, table, time, url, type Flash, type Viewer } from '../layout.js';
import { revealBox } from './key-pages.js';
import type { Reveal } from '../dashboard.js';

const EXAMPLE_PROGRAM = `[
  { "verb": "say", "text": "Welcome." },
  { "verb": "gather", "numDigits": 1, "timeout": 5 }
]`;

interface FormState {
  readonly name: string;
  readonly kind: 'hook' | 'program';
  readonly callHook: string;
  readonly statusHook: string;
  readonly program: string;
  /** Where the program broke a rule: the verb's index and the field, as validation reports them. */
  readonly error?: { readonly message: string; readonly index: number | null; readonly field: string | null; readonly on: 'program' | 'other' };
}

const EMPTY: FormState = { name: '', kind: 'program', callHook: '', statusHook: '', program: EXAMPLE_PROGRAM };

function applicationForm(viewer: Viewer, state: FormState): HtmlValue {
  if (!viewer.canWrite) return '';
  const error = state.error;
  const programError = error?.on === 'program';
  const where =
    error && programError && (error.index !== null || error.field !== null)
      ? html`<span class="where">${error.index !== null ? html`verb <strong>${error.index}</strong>` : ''}${error.index !== null && error.field ? ', ' : ''}${error.field ? html`field <strong><code>${error.field}</code></strong>` : ''}: </span>`
      : '';
  return postForm(
    viewer,
    url('/applications'),
    html`<fieldset><legend>New application</legend>
<div class="fields">
<div><label for="app-name">Name</label><input id="app-name" name="name" required maxlength="100" value="${state.name}"></div>
<div><label for="app-status-hook">Status hook URL (optional)</label><input id="app-status-hook" name="status_hook" type="url" value="${state.statusHook}"></div>
</div>
<fieldset class="choice"><legend>What answers its calls</legend>
<label><input type="radio" name="kind" value="program"${state.kind === 'program' ? html` checked` : ''}> A stored program (JSON)</label>
<label><input type="radio" name="kind" value="hook"${state.kind === 'hook' ? html` checked` : ''}> A call hook (URL asked for the verbs)</label>
</fieldset>
<div><label for="app-call-hook">Call hook URL</label><input id="app-call-hook" name="call_hook" type="url" value="${state.callHook}"></div>
<div><label for="app-program">Program (a JSON array of verbs, see docs/call-control-verbs.md)</label>
${error ? html`<p class="flash error" role="alert" id="program-error">${where}${error.message}</p>` : ''}
<textarea id="app-program" name="program" rows="10" spellcheck="false"${programError ? html` aria-invalid="true" aria-describedby="program-error"` : ''}>${state.program}</textarea></div>
<button type="submit">Create application</button></fieldset>`,
    html`class="application-form"`,
  );
}

function applicationCard(viewer: Viewer, app: Application): HtmlValue {
  return html`<section class="card" aria-labelledby="app-${app.id}">
<h2 id="app-${app.id}">${app.name} <span class="muted small">${app.id}</span></h2>
<dl class="summary">
<div><dt>Answered by</dt><dd>${app.program ? 'its stored program' : html`call hook <code>${app.callHook ?? ''}</code>`}</dd></div>
<div><dt>Status hook</dt><dd>${app.statusHook ? html`<code>${app.statusHook}</code>` : '—'}</dd></div>
<div><dt>Created</dt><dd>${time(app.createdAt)}</dd></div>
</dl>
${app.program ? html`<details><summary>Program (${app.program.length} verbs)</summary><pre>${JSON.stringify(app.program, null, 2)}</pre></details>` : ''}
${actionButton(viewer, url(`/applications/${app.id}/delete`), 'Delete', `Delete application ${app.name}`, true)}
</section>`;
}

async function applicationsPage(routes: DashboardRoutes, viewer: Viewer, state: FormState, flash?: Flash, reveal?: Reveal) {
  const list = await routes.deps.services.applications.list(viewer.user.accountId);
  return page(
    viewer,
    '/applications',
    'Applications',
    html`${revealBox(reveal)}${readOnlyNote(viewer)}${applicationForm(viewer, state)}${list.length ? list.map((a) => applicationCard(viewer, a)) : html`<p class="empty">No applications yet.</p>`}`,
    flash,
  );
}

/** Voice applications (a call hook, or a program stored as JSON and validated verb by verb) and gateway apps. */
export function registerApplicationPages(routes: DashboardRoutes): void {
  const { services } = routes.deps;

  routes.page('/applications', async ({ viewer, flash, reveal }) => applicationsPage(routes, viewer, EMPTY, flash, reveal));

  routes.action('/applications', async ({ viewer, body, flash, reveal }) => {
    const state: FormState = {
      name: body.name ?? '',
      kind: body.kind === 'hook' ? 'hook' : 'program',
      callHook: body.call_hook ?? '',
      statusHook: body.status_hook ?? '',
      program: body.program ?? '',
    };
    const rejected = async (error: NonNullable<FormState['error']>) => ({
      status: 400,
      body: await applicationsPage(routes, viewer, { ...state, error }),
    });
    let program: unknown;
    if (state.kind === 'program') {
      try {
        program = JSON.parse(state.program);
      } catch (error) {
        return rejected({ message: `The program is not valid JSON: ${(error as Error).message}`, index: null, field: null, on: 'program' });
      }
    }
    try {
      const { application, hookSecret } = await services.applications.create(viewer.user.accountId, {
        name: state.name,
        ...(state.kind === 'hook' ? { callHook: state.callHook } : { program }),
        ...(state.statusHook.trim() ? { statusHook: state.statusHook.trim() } : {}),
      });
      flash('ok', `Application ${application.name} created.`);
      reveal({ label: `Hook secret of ${application.name}`, secret: hookSecret, note: 'Its hook requests and status events are signed with this secret. It is shown this once.' });
      return '/applications';
    } catch (error) {
      if (!isDialplaneError(error) || error.status >= 500) throw error;
      const details = error.details ?? {};
      const index = typeof details.index === 'number' ? details.index : null;
      const field = typeof details.field === 'string' ? details.field : null;
      return rejected({ message: error.message, index, field, on: error.code === 'invalid_program' ? 'program' : 'other' });
    }
  });

  routes.action('/applications/:id/delete', async ({ viewer, params, flash }) => {
    const app = await services.applications.remove(viewer.user.accountId, params.id ?? '');
    flash('ok', `Application ${app.name} deleted.`);
    return '/applications';
  });

  routes.page('/gateway-apps', async ({ viewer, flash }) => {
    const apps = await services.apps.list(viewer.user.accountId);
    return page(
      viewer,
      '/gateway-apps',
      'Gateway apps',
      html`<p class="muted">Gateway apps (X-App-ID with X-API-Key) are created with <code>dialplane apps create</code>.</p>
${table(
  'Gateway apps and the caller IDs each may present',
  ['App', 'Caller-ID allow-list', 'Session webhook', 'Application', 'Created'],
  apps.map(
    (a) => html`<tr><td>${a.name}<br><code class="small">${a.id}</code></td><td>${a.callerIdAllowList.length ? html`<ul class="plain">${a.callerIdAllowList.map((n) => html`<li>${n}</li>`)}</ul>` : html`<span class="muted">empty: no caller ID is allowed</span>`}</td><td>${a.webhookUrl ? html`<code>${a.webhookUrl}</code>` : '—'}</td><td>${a.applicationId ?? '—'}</td><td>${time(a.createdAt)}</td></tr>`,
  ),
  'No gateway apps yet.',
)}`,
      flash,
    );
  });
}
