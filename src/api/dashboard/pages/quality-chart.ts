import type { QualitySample } from '../../../media/quality-log.js';
import { html, type Html } from '../html.js';

const WIDTH = 480;
const HEIGHT = 140;
const PAD = { left: 44, right: 44, top: 12, bottom: 26 };

/**
 * A leg's reception over time as a small SVG drawn on the server (no script): packets lost (cumulative, left axis)
 * and interarrival jitter in ms (right axis), with the figures also in a table for screen readers.
 */
export function qualityChart(title: string, samples: readonly QualitySample[]): Html {
  const last = samples[samples.length - 1]!;
  const maxT = Math.max(1_000, last.atMs);
  const maxLost = Math.max(1, ...samples.map((s) => s.lost));
  const maxJitter = Math.max(1, ...samples.map((s) => s.jitterMs));
  const w = WIDTH - PAD.left - PAD.right;
  const h = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => (PAD.left + (t / maxT) * w).toFixed(1);
  const y = (v: number, max: number) => (PAD.top + h - (v / max) * h).toFixed(1);
  const line = (pick: (s: QualitySample) => number, max: number) => samples.map((s) => `${x(s.atMs)},${y(pick(s), max)}`).join(' ');
  const summary = `${last.received} packets received, ${last.lost} lost, jitter ${last.jitterMs} ms after ${(last.atMs / 1000).toFixed(1)} s`;
  return html`<figure class="quality">
<figcaption>${title}: ${summary}</figcaption>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${`Packets lost and jitter over time for ${title}`}" class="chart">
<line x1="${PAD.left}" y1="${PAD.top + h}" x2="${PAD.left + w}" y2="${PAD.top + h}" class="axis"/>
<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + h}" class="axis"/>
<line x1="${PAD.left + w}" y1="${PAD.top}" x2="${PAD.left + w}" y2="${PAD.top + h}" class="axis"/>
<text x="${PAD.left - 6}" y="${PAD.top + 8}" class="label lost" text-anchor="end">${maxLost}</text>
<text x="${PAD.left - 6}" y="${PAD.top + h}" class="label" text-anchor="end">0</text>
<text x="${PAD.left + w + 6}" y="${PAD.top + 8}" class="label jitter">${maxJitter} ms</text>
<text x="${PAD.left}" y="${HEIGHT - 6}" class="label">0 s</text>
<text x="${PAD.left + w}" y="${HEIGHT - 6}" class="label" text-anchor="end">${(maxT / 1000).toFixed(1)} s</text>
<polyline points="${line((s) => s.lost, maxLost)}" class="series lost"/>
<polyline points="${line((s) => s.jitterMs, maxJitter)}" class="series jitter"/>
</svg>
<p class="legend"><span class="key lost">packets lost (left)</span> <span class="key jitter">jitter, ms (right)</span></p>
<details><summary>Figures</summary>
<table><caption>${title}</caption><thead><tr><th scope="col">Seconds</th><th scope="col">Received</th><th scope="col">Lost</th><th scope="col">Jitter (ms)</th></tr></thead>
<tbody>${samples.map((s) => html`<tr><td>${(s.atMs / 1000).toFixed(1)}</td><td>${s.received}</td><td>${s.lost}</td><td>${s.jitterMs}</td></tr>`)}</tbody></table>
</details>
</figure>`;
}
