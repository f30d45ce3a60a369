import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Contact, ContactInput } from '../../../src/core/contacts.js';
import { evaluateFilter, type EvaluableRecord } from '../../../src/core/query/filter-evaluate.js';
import { escapeValue, parseFilter, printFilter, type ConditionOperator, type FilterNode } from '../../../src/core/query/filter-parser.js';
import { checkFilter, fieldNames, type CheckedFilter, type ListQuery } from '../../../src/core/query/list-query.js';
import { contactResource } from '../../../src/core/query/resources.js';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

/**
 * For random filters over random contacts, the rows the SQL selects are exactly the contacts the in-memory meaning
 * (core/query/filter-evaluate.ts) accepts, on SQLite and on PostgreSQL. Values come from small pools so that
 * filters match often, with the cases where dialects differ by default: case, accents, collation order, wildcards,
 * empty text and missing values.
 */

const TEXTS = ['', 'a', 'A', 'ab', 'Ab', 'So', 'sophia', 'Sophia', 'É', 'é', 'e', 'Z', 'z', '%', '_', '\\', "O'Brien", '1675', '+17175501675', '10', '9', '😀', 'ß', 'ı', 'İ', 'x y'];
const INTEGERS = [0, 1, 9, 10, 100, -1, 1000];

function pick<T>(values: readonly T[]) {
  return fc.constantFrom(...values);
}

const maybeText = fc.option(pick(TEXTS), { nil: null });
const contactInput: fc.Arbitrary<ContactInput> = fc.record({
  firstName: pick(TEXTS),
  lastName: pick(TEXTS),
  companyName: fc.oneof(maybeText, fc.constant('Company inc.')),
  jobTitle: maybeText,
  industry: maybeText,
  employeeCount: fc.option(pick(INTEGERS.filter((n) => n >= 0)), { nil: null }),
  type: fc.option(pick(['EXTERNAL', 'LEAD', 'lead']), { nil: null }),
  shared: fc.boolean(),
  favorite: fc.boolean(),
  forceSave: fc.boolean(),
  phoneNumbers: fc.array(fc.record({ type: fc.option(pick(['WORK', 'HOME', 'work']), { nil: null }), phoneNumber: maybeText }), { maxLength: 3 }),
  emails: fc.array(fc.record({ type: maybeText, email: maybeText }), { maxLength: 2 }),
  addresses: fc.array(fc.record({ type: maybeText, city: maybeText, zip: maybeText, country: fc.option(pick(['US', 'GE', 'FR', 'us']), { nil: null }) }), {
    maxLength: 2,
  }),
});

function fullName(c: Contact): string {
  return c.lastName === '' ? c.firstName : c.firstName === '' ? c.lastName : `${c.firstName} ${c.lastName}`;
}

function evaluable(c: Contact): EvaluableRecord {
  return {
    id: c.id,
    firstName: c.firstName,
    lastName: c.lastName,
    fullName: fullName(c),
    companyName: c.companyName,
    jobTitle: c.jobTitle,
    industry: c.industry,
    employeeCount: c.employeeCount,
    type: c.type,
    shared: c.shared,
    favorite: c.favorite,
    forceSave: c.forceSave,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    phoneNumbers: c.phoneNumbers.map((p) => ({ ...p })),
    emails: c.emails.map((e) => ({ ...e })),
    addresses: c.addresses.map((a) => ({ ...a })),
  };
}

const FIELDS = fieldNames(contactResource).filter((f) => f !== 'id' && !f.endsWith('.id'));

function typeOf(path: string): string {
  const [list, name] = path.split('.');
  if (name !== undefined) return 'string';
  return (contactResource.fields as Record<string, { type: string }>)[list!]!.type;
}

function valuesFor(path: string, times: readonly string[]): fc.Arbitrary<string> {
  switch (typeOf(path)) {
    case 'integer':
      return pick(INTEGERS.map(String));
    case 'boolean':
      return pick(['true', 'false', 'TRUE']);
    case 'timestamp':
      return pick(times);
    default:
      return pick(TEXTS);
  }
}

const OPS_BY_TYPE: Record<string, readonly ConditionOperator[]> = {
  string: ['isnull', 'isnotnull', 'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'btn', 'like', 'notlike'],
  integer: ['isnull', 'isnotnull', 'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'btn'],
  timestamp: ['isnull', 'isnotnull', 'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'btn'],
  boolean: ['isnull', 'isnotnull', 'eq', 'neq', 'in', 'nin'],
};

function filterTree(times: readonly string[]): fc.Arbitrary<FilterNode> {
  const condition = pick(FIELDS).chain((field) =>
    pick(OPS_BY_TYPE[typeOf(field)]!).chain((op) => {
      const count = op === 'isnull' || op === 'isnotnull' ? 0 : op === 'btn' ? 2 : op === 'in' || op === 'nin' ? 3 : 1;
      return fc
        .array(valuesFor(field, times), { minLength: count, maxLength: count })
        .map((values): FilterNode => ({ kind: 'condition', op, field, values, position: 0, fieldPosition: 0 }));
    }),
  );
  return fc.letrec<{ node: FilterNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      condition,
      fc
        .record({ op: pick(['AND', 'OR'] as const), children: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) })
        .map((g): FilterNode => ({ kind: 'group', ...g, position: 0 })),
    ),
  })).node;
}

await describeEachDialect('DialLink: filters in SQL mean what they mean in memory', (dialect) => {
  let t: TestApp;
  let accountId: string;
  let contacts: Contact[] = [];
  before(async () => {
    t = await createTestApp(dialect);
    accountId = (await seedAccount(t.services)).account.id;
    const inputs = fc.sample(contactInput, { numRuns: 60, seed: 20261201 });
    for (const input of inputs) {
      t.clock.advance(fc.sample(fc.integer({ min: 0, max: 2 }), 1)[0]! * 1000);
      try {
        contacts.push(await t.services.contacts.create(accountId, input));
      } catch {
        // An input without any name is refused; the others are enough.
      }
    }
  });
  after(() => t.close());

  async function selected(filter: CheckedFilter): Promise<string[]> {
    const query: ListQuery = { filter, sort: [], pageNumber: 1, pageSize: 100 };
    const page = await t.services.contacts.page(accountId, query);
    return page.data.map((c) => c.id).sort();
  }

  test('random filters select the same contacts in SQL as in memory', async () => {
    assert.ok(contacts.length > 40);
    const times = [...new Set(contacts.map((c) => c.updatedAt))];
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(filterTree(times), async (tree) => {
        runs++;
        const checked = checkFilter(contactResource, parseFilter(printFilter(tree)));
        const expected = contacts.filter((c) => evaluateFilter(checked, evaluable(c))).map((c) => c.id).sort();
        assert.deepEqual(await selected(checked), expected, printFilter(tree));
      }),
      { numRuns: 2_000, interruptAfterTimeLimit: 3_000, seed: dialect === 'sqlite' ? 1 : 2 },
    );
    assert.ok(runs >= 50, `only ${runs} runs`);
  });

  test('chosen cases: case, accents, wildcards, missing values, nested lists', async () => {
    const check = async (text: string) => {
      const checked = checkFilter(contactResource, parseFilter(text));
      const expected = contacts.filter((c) => evaluateFilter(checked, evaluable(c))).map((c) => c.id).sort();
      assert.deepEqual(await selected(checked), expected, text);
      return expected.length;
    };
    for (const text of [
      'like(firstName,SO)',
      'like(firstName,é)',
      'like(firstName,É)',
      `like(firstName,${escapeValue('%')})`,
      'like(firstName,_)',
      `like(firstName,${escapeValue('\\')})`,
      'gt(firstName,Z)',
      'lt(firstName,é)',
      'isnull(companyName)',
      'neq(companyName,Company inc.)',
      'nin(phoneNumbers.type,WORK)',
      'isnull(phoneNumbers.phoneNumber)',
      'like(phoneNumbers.phoneNumber,1675)',
      'btn(employeeCount,1,100)',
      'eq(fullName,x y)',
      'like(fullName,a a)',
      'eq(shared,true)',
      'in(addresses.country,US,FR)',
    ]) {
      await check(text);
    }
  });
});
