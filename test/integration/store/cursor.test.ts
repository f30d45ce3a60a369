import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

/** Newest-first listings page by (created_at, id): every row once, in order, ties on the same instant included. */
await describeEachDialect('newest-first paging', (dialect) => {
  let t: TestApp;
  let accountId: string;

  before(async () => {
    t = await createTestApp(dialect);
    accountId = (await t.services.accounts.create({ name: 'Pages', email: 'pages@example.com' })).account.id;
  });
  after(() => t.close());

  test('pages of two cover five calls, three of them created at the same instant, each exactly once', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      if (i === 1 || i === 4) t.clock.advance(1_000);
      const call = await t.services.calls.create({
        accountId,
        direction: 'outbound',
        from: '+14155551234',
        to: `+1415555010${i}`,
        ringTimeoutS: 30,
        maxDurationS: 60,
      });
      created.push(call.id);
    }
    const seen: string[] = [];
    let page = await t.services.calls.list(accountId, 2);
    while (page.length > 0) {
      seen.push(...page.map((c) => c.id));
      const last = page.at(-1)!;
      page = await t.services.calls.list(accountId, 2, { createdAt: last.createdAt, id: last.id });
    }
    assert.equal(seen.length, 5);
    assert.deepEqual(new Set(seen), new Set(created));
    const all = await t.services.calls.list(accountId, 10);
    assert.deepEqual(seen, all.map((c) => c.id), 'the pages follow the full listing\'s order');
  });
});
