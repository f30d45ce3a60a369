import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CallView } from '../../../core/calls/call-control.js';
import type { Call } from '../../../core/calls/call-service.js';
import type { CallEvent } from '../../../core/calls/call-state.js';
import type { Program } from '../../../core/calls/program.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError } from '../../../errors.js';
import { EventStream } from '../../event-stream.js';
import type { DashboardRoutes } from '../dashboard.js';
import { html, type Html, type HtmlValue } from '../html.js';
import { credits, page, postForm, readOnlyNote, table, time, url, type Viewer } from '../layout.js';
import { qualityChart } from './quality-chart.js';

/** What the "try a call" panel can run once the dev carrier's callee answers. */
const TRY_PROGRAMS: Readonly<Record<string, { label: string; program: Program }>> = {
  say: { label: 'Say a sentence, then hang up', program: [{ verb: 'say', text: 'Hello from Dialplane. This was a test call. Goodbye.' }] },
  gather: {
    label: 'Collect three keys, then hang up (call a number ending in 7 and three keys, e.g. +14155557123)',
    program: [{ verb: 'gather', numDigits: 3, timeout: 5 }, { verb: 'say', text: 'Thank you.' }],
  },
  record: {
    label: 'Record two seconds, then hang up',
    program: [{ verb: 'record', maxLength: 2, finishOnKey: '', beep: true }],
  },
};

/** Between reads of the call list while its page is open: calls of every node show, not only this one's. */
const LIST_POLL_MS = 1_000;
/** A timeline re-reads the store this often too, for a call driven by another node (this one hears no events of it). */
const TIMELINE_POLL_MS = 2_000;

function stateBadge(state: string, outcome: string | null): Html {
  const label = state === 'ended' && outcome ? outcome : state;
  return html`<span class="state state-${label}">${label}</span>`;
}

function callRow(view: CallView): Html {
  const { call } = view;
  const legs = view.legs.length > 0 ? html`<ul class="legs">${view.legs.map((leg) => html`<li>${leg.to}: ${stateBadge(leg.state, leg.outcome)}</li>`)}</ul>` : '';
  return html`<tr id="row-${call.id}" data-call-id="${call.id}">
<td><a href="${url(`/calls/${call.id}`)}">${call.id}</a></td><td>${time(call.createdAt)}</td><td>${call.direction}</td><td>${call.from}</td><td>${call.to}</td>
<td>${stateBadge(call.state, call.outcome)}${legs}</td><td>${view.costMinor === null ? (view.live ? 'live' : '—') : credits(view.costMinor)}</td>
</tr>`;
}

function tryCallPanel(viewer: Viewer, voiceNumbers: readonly string[]): HtmlValue {
  if (!viewer.canWrite) return '';
  if (voiceNumbers.length === 0) return html`<p class="note">Add a voice number to the account to place calls from it.</p>`;
  return postForm(
    viewer,
    url('/calls'),
    html`<fieldset><legend>Try a call</legend>
<p class="muted">With the dev carrier, a number ending in 0486 is busy, 0404 does not exist, 0480 never answers, 7 and three keys presses them; any other rings for 1 s and answers.</p>
<div class="fields">
<div><label for="try-from">From</label><select id="try-from" name="from">${voiceNumbers.map((n) => html`<option>${n}</option>`)}</select></div>
<div><label for="try-to">To</label><input id="try-to" name="to" value="+14155550100" required inputmode="tel" autocomplete="off"></div>
<div><label for="try-program">Once answered</label><select id="try-program" name="program">${Object.entries(TRY_PROGRAMS).map(
      ([value, { label }]) => html`<option value="${value}">${label}</option>`,
    )}</select></div>
</div>
<button type="submit">Place call</button></fieldset>`,
    html`class="try-call"`,
  );
}

/** Every state event of every leg, oldest first. */
async function allEvents(services: Services, accountId: string, view: CallView): Promise<Array<CallEvent & { leg: Call }>> {
  const lists = await Promise.all([view.call, ...view.legs].map(async (leg) => (await services.calls.events(accountId, leg.id)).map((event) => ({ ...event, leg }))));
  return lists.flat().sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

function eventItem(event: CallEvent & { leg: Call }, first: Call): Html {
  const sip = event.sipStatus !== undefined ? html` <span class="sip">SIP ${event.sipStatus}${event.sipReason ? ` ${event.sipReason}` : ''}</span>` : '';
  const end =
    event.state === 'ended'
      ? html` <span class="outcome">${event.outcome ?? ''}</span>${event.cause ? html` <span class="cause">Q.850 ${event.cause.code} ${event.cause.name}</span>` : ''}${event.endReason ? html` <span class="reason">(${event.endReason})</span>` : ''}`
      : '';
  const leg = event.leg.id === first.id ? '' : html` <span class="leg">leg to ${event.leg.to}</span>`;
  return html`<li data-state="${event.state}">${time(event.at)} <strong>${event.state}</strong>${leg}${sip}${end}</li>`;
}

function activityItem(activity: CallView['activities'][number]): Html {
  const data = Object.entries(activity.data)
    .filter(([, value]) => value !== null && value !== undefined && typeof value !== 'object')
    .map(([name, value]) => html`<span class="kv">${name}: ${String(value)}</span> `);
  return html`<li>${time(activity.at)} <strong>${activity.kind}</strong> ${data}</li>`;
}

/** The part of a call's page that changes while it lives (sent again whole over the page's event stream). */
async function timelineBody(
  routes: DashboardRoutes,
  viewer: Viewer,
  view: CallView,
): Promise<Html> {
  const { services, quality } = routes.deps;
  const { call } = view;
  const events = await allEvents(services, viewer.user.accountId, view);
  const legs = [call, ...view.legs];
  const charts = legs
    .map((leg) => ({ leg, samples: quality?.(leg.id) ?? [] }))
    .filter((entry) => entry.samples.length > 0);
  return html`<dl class="summary">
<div><dt>State</dt><dd id="call-state">${stateBadge(call.state, call.outcome)}${view.live ? html` <span class="badge live">live</span>` : ''}</dd></div>
<div><dt>Direction</dt><dd>${call.direction}</dd></div>
<div><dt>From</dt><dd>${call.from}</dd></div><div><dt>To</dt><dd>${call.to}</dd></div>
<div><dt>Hangup cause</dt><dd>${call.hangupCause ? `${call.hangupCause.code} ${call.hangupCause.name}` : '—'}</dd></div>
<div><dt>End reason</dt><dd>${call.endReason ?? '—'}</dd></div>
<div><dt>Cost</dt><dd id="call-cost">${view.costMinor === null ? 'while live: not yet' : `${credits(view.costMinor)} credits`}</dd></div>
<div><dt>Keys pressed</dt><dd id="call-keys">${view.gathered.length > 0 ? view.gathered.map((g) => html`<code>${g.digits || '(none)'}</code> `) : '—'}</dd></div>
</dl>
<h2>Events</h2>
<ol class="timeline" id="call-events">${events.map((event) => eventItem(event, call))}</ol>
${view.activities.length > 0 ? html`<h2>What the program did</h2><ol class="timeline">${view.activities.map(activityItem)}</ol>` : ''}
${table(
  'Legs of this call',
  ['Leg', 'To', 'State', 'SIP', 'Price per minute', 'Cost'],
  legs.map(
    (leg) => html`<tr><td>${leg.id}</td><td>${leg.to}</td><td>${stateBadge(leg.state, leg.outcome)}</td><td>${leg.sipStatus ?? '—'} ${leg.sipReason ?? ''}</td><td>${credits(leg.priceMinor)}</td><td>${credits(leg.costMinor)}</td></tr>`,
  ),
  'No legs.',
)}
<h2>Recordings</h2>
${view.recordings.length > 0
  ? html`<ul class="recordings">${view.recordings.map(
      (r) => html`<li><span>${r.id}, ${(r.durationMs / 1000).toFixed(1)} s</span> <audio controls preload="none" src="${url(`/recordings/${r.id}`)}" aria-label="Recording ${r.id}"></audio></li>`,
    )}</ul>`
  : html`<p class="empty">No recordings.</p>`}
<h2>Audio quality (RTCP)</h2>
${charts.length > 0
  ? charts.map(({ leg, samples }) => qualityChart(`Leg ${leg.id} to ${leg.to}`, samples))
  : html`<p class="empty">No RTCP reception data for this call on this server (it was not answered here, or the server restarted).</p>`}`;
}

async function streamTimeline(routes: DashboardRoutes, request: FastifyRequest, reply: FastifyReply, viewer: Viewer, callId: string): Promise<void> {
  const { services, calls } = routes.deps;
  const accountId = viewer.user.accountId;
  const read = async () => (calls ? calls.view(accountId, callId) : viewWithoutControl(services, accountId, callId));
  await read();
  reply.hijack();
  const stream = new EventStream(reply.raw, { format: 'sse' });
  let last = '';
  let busy = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const push = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const view = await read();
        const body = (await timelineBody(routes, viewer, view)).text;
        if (body !== last) {
          last = body;
          stream.send({ html: body, live: view.live }, { event: 'timeline' });
        }
        if (!view.live) {
          stream.send({ live: false }, { event: 'end' });
          stream.end();
          return;
        }
      } while (again);
    } catch (error) {
      request.log.warn({ err: error }, 'dashboard call stream');
      stream.end();
    } finally {
      busy = false;
    }
  };
  const schedule = () => {
    if (!stream.isOpen) return;
    clearTimeout(timer);
    timer = setTimeout(() => void push(), 30);
  };
  const unwatch = calls?.watch(callId, schedule);
  const poll = setInterval(schedule, TIMELINE_POLL_MS);
  poll.unref();
  stream.onClose(() => {
    unwatch?.();
    clearInterval(poll);
    clearTimeout(timer);
  });
  schedule();
}

/** Without telephony in this process (a server that only serves the API) a call is read from the store. */
async function viewWithoutControl(services: Services, accountId: string, callId: string): Promise<CallView> {
  const call = await services.calls.get(accountId, callId);
  const legs = await services.calls.legs(accountId, callId);
  const all = [call, ...legs];
  const activities = await services.calls.activities(accountId, callId);
  const live = all.some((leg) => leg.state !== 'ended');
  return {
    call,
    legs,
    activities,
    gathered: activities.filter((a) => a.kind === 'gather').map((a) => ({ digits: String(a.data.digits ?? ''), reason: String(a.data.reason ?? ''), at: a.at })),
    updatedAt: call.updatedAt,
    recordings: await services.calls.recordings(accountId, all.map((leg) => leg.id)),
    costMinor: live ? null : all.reduce((sum, leg) => sum + (leg.costMinor ?? 0), 0),
    live,
  };
}

async function streamList(routes: DashboardRoutes, request: FastifyRequest, reply: FastifyReply, viewer: Viewer): Promise<void> {
  const { services, calls } = routes.deps;
  const accountId = viewer.user.accountId;
  reply.hijack();
  const stream = new EventStream(reply.raw, { format: 'sse' });
  const seen = new Map<string, string>();
  const read = async () => {
    const list = await services.calls.listTop(accountId, 25);
    for (const call of list.reverse()) {
      const signature = `${call.state}|${call.updatedAt}|${call.costMinor}`;
      // A live call's legs change without its own row changing: read it again while it lives.
      if (seen.get(call.id) === signature && call.state === 'ended') continue;
      const view = calls ? await calls.view(accountId, call.id) : await viewWithoutControl(services, accountId, call.id);
      const row = callRow(view).text;
      const full = `${signature}|${row}`;
      if (seen.get(call.id) === full) continue;
      seen.set(call.id, view.live ? full : signature);
      stream.send({ id: call.id, html: row }, { event: 'call' });
    }
  };
  let running = false;
  const tick = () => {
    if (running || !stream.isOpen) return;
    running = true;
    read()
      .catch((error: unknown) => request.log.warn({ err: error }, 'dashboard call list stream'))
      .finally(() => (running = false));
  };
  const timer = setInterval(tick, LIST_POLL_MS);
  stream.onClose(() => clearInterval(timer));
  tick();
}

export function registerCallPages(routes: DashboardRoutes): void {
  const { services, calls } = routes.deps;

  routes.page('/calls', async ({ viewer, flash }) => {
    const accountId = viewer.user.accountId;
    const list = await services.calls.listTop(accountId, 25);
    const views = await Promise.all(list.map((call) => (calls ? calls.view(accountId, call.id) : viewWithoutControl(services, accountId, call.id))));
    const voice = (await services.numbers.list(accountId)).filter((n) => n.capabilities.includes('voice')).map((n) => n.number);
    return page(
      viewer,
      '/calls',
      'Calls',
      html`${readOnlyNote(viewer)}${calls ? tryCallPanel(viewer, voice) : ''}
<h2>Latest calls <span class="muted small" id="calls-live-note">(updated live)</span></h2>
<div class="table-wrap" role="region" aria-label="Latest calls" tabindex="0"><table id="calls-table" data-stream="${url('/calls/stream')}">
<caption>The 25 latest calls, newest first</caption>
<thead><tr><th scope="col">Call</th><th scope="col">Started</th><th scope="col">Direction</th><th scope="col">From</th><th scope="col">To</th><th scope="col">State</th><th scope="col">Cost</th></tr></thead>
<tbody id="calls-body">${views.map(callRow)}</tbody>
</table></div>
${views.length === 0 ? html`<p class="empty" id="calls-empty">No calls yet.</p>` : ''}`,
      flash,
    );
  });

  routes.raw('/calls/stream', async (request, reply, { viewer }) => streamList(routes, request, reply, viewer));

  routes.action('/calls', async ({ viewer, body }) => {
    if (!calls) throw new DialplaneError('not_found', 'telephony does not run in this server');
    const preset = TRY_PROGRAMS[body.program ?? 'say'] ?? TRY_PROGRAMS.say!;
    const call = await calls.start(viewer.user.accountId, {
      from: body.from ?? '',
      to: [{ type: 'phone', number: body.to ?? '' }],
      program: preset.program,
      ringTimeoutS: 30,
      maxDurationS: 120,
    });
    return `/calls/${call.id}`;
  });

  routes.page('/calls/:id', async ({ viewer, params, flash }) => {
    const accountId = viewer.user.accountId;
    const view = calls ? await calls.view(accountId, params.id ?? '') : await viewWithoutControl(services, accountId, params.id ?? '');
    const hangup =
      view.live && calls && viewer.canWrite
        ? postForm(viewer, url(`/calls/${view.call.id}/hangup`), html`<button type="submit" class="danger">Hang up</button>`, html`class="inline hangup"`)
        : '';
    return page(
      viewer,
      '/calls',
      `Call ${view.call.id}`,
      html`<p><a href="${url('/calls')}">All calls</a></p>${hangup}
<p id="timeline-status" role="status" class="sr-only"></p>
<div id="timeline" data-stream="${view.live ? url(`/calls/${view.call.id}/stream`) : ''}">${await timelineBody(routes, viewer, view)}</div>`,
      flash,
    );
  });

  routes.raw('/calls/:id/stream', async (request, reply, { viewer }) =>
    streamTimeline(routes, request, reply, viewer, (request.params as { id: string }).id),
  );

  routes.action('/calls/:id/hangup', async ({ viewer, params, flash }) => {
    if (!calls) throw new DialplaneError('not_found', 'telephony does not run in this server');
    await calls.hangup(viewer.user.accountId, params.id ?? '');
    flash('ok', 'The call was hung up.');
    return `/calls/${params.id}`;
  });

  routes.raw('/recordings/:id', async (request, reply, { viewer }) => {
    const wav = await services.calls.recordingWav(viewer.user.accountId, (request.params as { id: string }).id);
    return reply.type('audio/wav').header('cache-control', 'private, max-age=0').send(wav);
  });
}

