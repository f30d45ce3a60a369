// Dialplane dashboard: the few things a page cannot do without a script. Everything else is plain forms and links.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  // Copy buttons: copy the text of the element named by data-copy, and say so to screen readers too.
  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = button.parentElement.querySelector('.copied');
      if (!source) return;
      const text = source.textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
        if (status) status.textContent = 'Copied.';
      } catch {
        // No clipboard (plain HTTP on another host): select the text so Ctrl+C copies it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) status.textContent = 'Selected: press Ctrl+C to copy.';
      }
    });
  }

  // The call list: rows arrive over server-sent events, rendered (and escaped) by the server.
  const callsTable = document.getElementById('calls-table');
  if (callsTable && callsTable.dataset.stream) {
    const body = document.getElementById('calls-body');
    const source = new EventSource(callsTable.dataset.stream);
    source.addEventListener('call', (message) => {
      const { id, html } = JSON.parse(message.data);
      const template = document.createElement('template');
      template.innerHTML = html.trim();
      const row = template.content.firstElementChild;
      const existing = document.getElementById(`row-${id}`);
      if (existing) existing.replaceWith(row);
      else body.prepend(row);
      document.getElementById('calls-empty')?.remove();
    });
    window.addEventListener('pagehide', () => source.close());
  }

  // A call's timeline: the server sends the whole changing part again whenever the call moves.
  const timeline = document.getElementById('timeline');
  if (timeline && timeline.dataset.stream) {
    const status = document.getElementById('timeline-status');
    const source = new EventSource(timeline.dataset.stream);
    source.addEventListener('timeline', (message) => {
      const { html } = JSON.parse(message.data);
      timeline.innerHTML = html;
      const state = document.getElementById('call-state');
      if (status && state) status.textContent = `Call state: ${state.textContent.trim()}`;
    });
    source.addEventListener('end', () => {
      source.close();
      document.querySelectorAll('form.hangup').forEach((form) => form.remove());
    });
    window.addEventListener('pagehide', () => source.close());
  }
});
