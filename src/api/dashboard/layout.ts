import type { User } from '../../core/accounts.js';
import { html, type Html, type HtmlValue } from './html.js';

export const DASHBOARD_PREFIX = '/dashboard';

/** What every signed-in page knows about who is looking. */
export interface Viewer {
  readonly user: User;
  readonly csrfToken: string;
  /** False for a view-only user: forms are not shown, and their POSTs are refused anyway. */
  readonly canWrite: boolean;
}

export interface Flash {
  readonly kind: 'ok' | 'error';
  readonly text: string;
}

const NAV: ReadonlyArray<readonly [path: string, label: string]> = [
  ['/calls', 'Calls'],
  ['/keys', 'API keys'],
  ['/numbers', 'Numbers'],
  ['/extensions', 'Extensions'],
  ['/applications', 'Applications'],
  ['/gateway-apps', 'Gateway apps'],
  ['/webhooks', 'Webhooks'],
  ['/messages', 'Messages'],
  ['/credits', 'Credits'],
  ['/status', 'Status'],
];

export function url(path: string): string {
  return `${DASHBOARD_PREFIX}${path}`;
}

function head(title: string): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Dialplane</title>
<link rel="stylesheet" href="${url('/assets/dashboard.css')}">
<script src="${url('/assets/dashboard.js')}" defer></script>
</head>`;
}

/** A signed-in page: skip link, navigation (the current page marked for screen readers), sign-out, content. */
export function page(viewer: Viewer, section: string, title: string, content: HtmlValue, flash?: Flash): Html {
  const nav = NAV.map(
    ([path, label]) =>
      html`<li><a href="${url(path)}"${section === path ? html` aria-current="page"` : ''}>${label}</a></li>`,
  );
  return html`${head(title)}
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="${url('/calls')}">Dialplane</a>
  <nav aria-label="Sections"><ul>${nav}</ul></nav>
  <form method="post" action="${url('/sign-out')}" class="signout">
    ${csrfField(viewer)}
    <span class="who">${viewer.user.email}${viewer.canWrite ? '' : html` <span class="badge">view only</span>`}</span>
    <button type="submit">Sign out</button>
  </form>
</header>
<main id="main" tabindex="-1">
<h1>${title}</h1>
${flash ? html`<p class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">${flash.text}</p>` : ''}
${content}
</main>
</body>
</html>`;
}

/** A page without a session (sign-in, errors before sign-in). */
export function bare(title: string, content: HtmlValue): Html {
  return html`${head(title)}
<body class="bare">
<main id="main">
${content}
</main>
</body>
</html>`;
}

export function csrfField(viewer: Pick<Viewer, 'csrfToken'>): Html {
  return html`<input type="hidden" name="_csrf" value="${viewer.csrfToken}">`;
}

/** A form posting to `action`, with the session's CSRF token. */
export function postForm(viewer: Viewer, action: string, content: HtmlValue, attrs: HtmlValue = ''): Html {
  return html`<form method="post" action="${action}" ${attrs}>${csrfField(viewer)}${content}</form>`;
}

/** A one-button form (revoke, re-send, delete). */
export function actionButton(viewer: Viewer, action: string, label: string, accessibleName: string, danger = false): HtmlValue {
  if (!viewer.canWrite) return '';
  return postForm(
    viewer,
    action,
    html`<button type="submit" class="${danger ? 'danger' : ''}" aria-label="${accessibleName}">${label}</button>`,
    html`class="inline"`,
  );
}

export function table(caption: string, headers: readonly string[], rows: readonly HtmlValue[], empty: string): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<div class="table-wrap" role="region" aria-label="${caption}" tabindex="0"><table>
<caption>${caption}</caption>
<thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}

export function time(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

export function credits(minor: number | null | undefined): string {
  if (minor === null || minor === undefined) return '—';
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

export function readOnlyNote(viewer: Viewer): HtmlValue {
  return viewer.canWrite ? '' : html`<p class="note">You may view this page; a view-only user cannot change anything.</p>`;
}
