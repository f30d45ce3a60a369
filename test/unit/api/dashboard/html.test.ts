import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { html, trusted } from '../../../../src/api/dashboard/html.js';

describe('dashboard html templates', () => {
  test('interpolated text is escaped, nested templates are not escaped twice', () => {
    const name = `<script>alert("x")</script> & 'quotes'`;
    const inner = html`<b>${name}</b>`;
    assert.equal(
      html`<p title="${name}">${inner}</p>`.text,
      `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;"><b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;</b></p>`,
    );
  });

  test('arrays are joined, null, undefined and false render nothing, numbers render', () => {
    assert.equal(html`${['a', html`<i>b</i>`, null, undefined, false, 3]}`.text, 'a<i>b</i>3');
    assert.equal(html`${trusted('<hr>')}`.text, '<hr>');
  });

  test('no string can open a tag or leave an attribute', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const out = html`<a title="${text}">${text}</a>`.text;
        const inside = out.slice('<a title="'.length, out.length - '</a>'.length);
        return !/[<>"']/.test(inside.replace('">', ''));
      }),
      { numRuns: 500 },
    );
  });
});
