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
  /** Edit form only: replace the hook secret. */
  readonly rotate?: boolean;
  /** Where the program broke a rule: the verb's index and the field, as validation reports them. */
  readonly error?: { readonly message: string; readonly index: number | null; readonly field: string | null; readonly on: 'program' | 'other' };
}

const EMPTY: FormState = { name: '', kind: 'program', callHook: '', statusHook: '', program: EXAMPLE_PROGRAM };

/** The create form (editing undefined) or the edit form of an application. */
function applicationForm(viewer: Viewer, state: FormState, editing?: Application): HtmlValue {
  if (!viewer.canWrite) return '';
  const error = state.error;
  const programError = error?.on === 'program';
  const where =
    error && programError && (error.index !== null || error.field !== null)
      ? html`<span class="where">${error.index !== null ? html`verb <strong>${error.index}</strong>` : ''}${error.index !== null && error.field ? ', ' : ''}${error.field ? html`field <strong><code>${error.field}</code></strong>` : ''}: </span>`
      : '';
  return postForm(
    viewer,
    editing ? url(`/applications/${editing.id}/edit`) : url('/applications'),
    html`<fieldset><legend>${editing ? html`Edit application ${editing.name}` : 'New application'}</legend>
<div class="fields">
<div><label for="app-name">Name</label><input id="app-name" name="name" required maxlength="100" value="${state.name}"></div>
<div><label for="app-status-hook">Status hook URL (optional${editing ? ': empty removes it' : ''})</label><input id="app-status-hook" name="status_hook" type="url" value="${state.statusHook}"></div>
</div>
<fieldset class="choice"><legend>What answers its calls</legend>
<label><input type="radio" name="kind" value="program"${state.kind === 'program' ? html` checked` : ''}> A stored program (JSON)</label>
<label><input type="radio" name="kind" value="hook"${state.kind === 'hook' ? html` checked` : ''}> A call hook (URL asked for the verbs)</label>
</fieldset>
<div><label for="app-call-hook">Call hook URL</label><input id="app-call-hook" name="call_hook" type="url" value="${state.callHook}"></div>
<div><label for="app-program">Program (a JSON array of verbs, see docs/call-control-verbs.md)</label>
${error ? html`<p class="flash error" role="alert" id="program-error">${where}${error.message}</p>` : ''}
<textarea id="app-program" name="program" rows="10" spellcheck="false"${programError ? html` aria-invalid="true" aria-describedby="program-error"` : ''}>${state.program}</textarea></div>
${editing ? html`<div><label class="check"><input type="checkbox" name="rotate_hook_secret" value="1"${state.rotate ? html` checked` : ''}> Replace the hook secret (the new one is shown once; the old one stops signing at once)</label></div>` : ''}
${editing ? html`<p class="muted">Calls already running keep the program they started with; calls that start after saving run the new one.</p>` : ''}
<button type="submit">${editing ? 'Save application' : 'Create application'}</button>${editing ? html` <a href="${url('/applications')}">Cancel</a>` : ''}</fieldset>`,
    html`class="application-form"`,
  );
}

/** The form's fields from a posted body. */
function postedState(body: Record<string, string | undefined>): FormState {
  return {
    name: body.name ?? '',
    kind: body.kind === 'hook' ? 'hook' : 'program',
    callHook: body.call_hook ?? '',
    statusHook: body.status_hook ?? '',
    program: body.program ?? '',
    rotate: body.rotate_hook_secret === '1',
  };
}

/** The program in the form, parsed; a FormState error when it is not JSON. */
function parsedProgram(state: FormState): { program: unknown } | { error: NonNullable<FormState['error']> } {
  try {
    return { program: JSON.parse(state.program) };
  } catch (error) {
    return { error: { message: `The program is not valid JSON: ${(error as Error).message}`, index: null, field: null, on: 'program' } };
  }
}

/** A refused create or update as the form shows it: at the program's verb and field, or above the form. */
function formError(error: unknown): NonNullable<FormState['error']> {
  if (!isDialplaneError(error) || error.status >= 500) throw error;
  const details = error.details ?? {};
  const index = typeof details.index === 'number' ? details.index : null;
  const verbField = typeof details.verb_field === 'string' ? details.verb_field : typeof details.field === 'string' && details.field !== 'program' ? details.field : null;
  const onProgram = error.code === 'invalid_program';
  return { message: error.message, index, field: onProgram ? verbField : null, on: onProgram ? 'program' : 'other' };
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
${viewer.canWrite ? html`<div class="actions"><a href="${url(`/applications/${app.id}/edit`)}" aria-label="Edit application ${app.name}">Edit</a>${actionButton(viewer, url(`/applications/${app.id}/delete`), 'Delete', `Delete application ${app.name}`, true)}</div>` : ''}
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

/** The edit form's fields from the application as stored. */
function storedState(app: Application): FormState {
  return {
    name: app.name,
    kind: app.program ? 'program' : 'hook',
    callHook: app.callHook ?? '',
    statusHook: app.statusHook ?? '',
    program: app.program ? JSON.stringify(app.program, null, 2) : EXAMPLE_PROGRAM,
  };
}

function editPage(viewer: Viewer, app: Application, state: FormState, flash?: Flash) {
  return page(
    viewer,
    '/applications',
    `Edit ${app.name}`,
    html`${readOnlyNote(viewer)}${viewer.canWrite ? applicationForm(viewer, state, app) : html`${applicationCard(viewer, app)}<p><a href="${url('/applications')}">Back to the applications</a></p>`}`,
    flash,
  );
}

/** Voice applications (a call hook, or a program stored as JSON and validated verb by verb) and gateway apps. */
export function registerApplicationPages(routes: DashboardRoutes): void {
  const { services } = routes.deps;

  routes.page('/applications', async ({ viewer, flash, reveal }) => applicationsPage(routes, viewer, EMPTY, flash, reveal));

  routes.action('/applications', async ({ viewer, body, flash, reveal }) => {
    const state = postedState(body);
    const rejected = async (error: NonNullable<FormState['error']>) => ({
      status: 400,
      body: await applicationsPage(routes, viewer, { ...state, error }),
    });
    let program: unknown;
    if (state.kind === 'program') {
      const parsed = parsedProgram(state);
      if ('error' in parsed) return rejected(parsed.error);
      program = parsed.program;
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
      return rejected(formError(error));
    }
  });

  routes.page('/applications/:id/edit', async ({ viewer, params, flash }) => {
    const app = await services.applications.get(viewer.user.accountId, params.id ?? '');
    return editPage(viewer, app, storedState(app), flash);
  });

  routes.action('/applications/:id/edit', async ({ viewer, params, body, flash, reveal }) => {
    const app = await services.applications.get(viewer.user.accountId, params.id ?? '');
    const state = postedState(body);
    const rejected = (error: NonNullable<FormState['error']>) => ({ status: 400, body: editPage(viewer, app, { ...state, error }) });
    let program: unknown;
    if (state.kind === 'program') {
      const parsed = parsedProgram(state);
      if ('error' in parsed) return rejected(parsed.error);
      program = parsed.program;
    }
    try {
      const { application, hookSecret } = await services.applications.update(viewer.user.accountId, app.id, {
        name: state.name,
        ...(state.kind === 'hook' ? { callHook: state.callHook } : { program }),
        statusHook: state.statusHook.trim() ? state.statusHook.trim() : null,
        rotateHookSecret: state.rotate,
      });
      flash('ok', `Application ${application.name} updated.`);
      if (hookSecret !== undefined) {
        reveal({ label: `New hook secret of ${application.name}`, secret: hookSecret, note: 'Its hook requests and status events are signed with this secret from now on. It is shown this once.' });
      }
      return '/applications';
    } catch (error) {
      if (isDialplaneError(error) && error.code === 'not_found') throw error;
      return rejected(formError(error));
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
