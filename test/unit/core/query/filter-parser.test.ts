import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  ARITY,
  CONDITION_OPERATORS,
  FilterSyntaxError,
  parseFilter,
  printFilter,
  type ConditionOperator,
  type FilterNode,
} from '../../../../src/core/query/filter-parser.js';
import { parseListQuery } from '../../../../src/core/query/list-query.js';
import { contactResource } from '../../../../src/core/query/resources.js';
import { DialplaneError } from '../../../../src/errors.js';

/** Properties are bounded in time, not only in runs, so the suite stays quick on a busy machine. */
const BOUNDED = { numRuns: 100_000, interruptAfterTimeLimit: 2_000 } as const;

/** The tree without positions: what print-then-parse must give back. */
function shape(node: FilterNode): unknown {
  return node.kind === 'group'
    ? { op: node.op, children: node.children.map(shape) }
    : { op: node.op, field: node.field, values: [...node.values] };
}

const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,8}$/);
const field = fc.array(name, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.'));
const value = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: fc.constantFrom(' ', '\t', ',', '(', ')', '\\', 'a', 'é', '\u{1F600}', '+', '%', '_', "'", '"'), maxLength: 8 }),
);

function condition(op: ConditionOperator) {
  const [least, most] = ARITY[op];
  return fc.record({
    kind: fc.constant('condition' as const),
    op: fc.constant(op),
    field,
    values: fc.array(value, { minLength: least, maxLength: Math.min(most, least + 3) }),
    position: fc.constant(0),
    fieldPosition: fc.constant(0),
  });
}

const tree = fc.letrec<{ node: FilterNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...CONDITION_OPERATORS).chain(condition),
    fc.record({
      kind: fc.constant('group' as const),
      op: fc.constantFrom('AND' as const, 'OR' as const),
      children: fc.array(tie('node'), { minLength: 1, maxLength: 4 }),
      position: fc.constant(0),
    }),
  ),
})).node;

describe('the filter parser', () => {
  test("the document's examples", () => {
    assert.deepEqual(shape(parseFilter('AND(eq(firstName,Sophia),like(phoneNumbers.phoneNumber,1675))')), {
      op: 'AND',
      children: [
        { op: 'eq', field: 'firstName', values: ['Sophia'] },
        { op: 'like', field: 'phoneNumbers.phoneNumber', values: ['1675'] },
      ],
    });
    assert.deepEqual(shape(parseFilter('OR(gt(annualRevenue,500000),AND(gt(employeeCount,1000),eq(country,US)))')), {
      op: 'OR',
      children: [
        { op: 'gt', field: 'annualRevenue', values: ['500000'] },
        { op: 'AND', children: [{ op: 'gt', field: 'employeeCount', values: ['1000'] }, { op: 'eq', field: 'country', values: ['US'] }] },
      ],
    });
    assert.deepEqual(shape(parseFilter('in(country,US,GE,FR)')), { op: 'in', field: 'country', values: ['US', 'GE', 'FR'] });
    assert.deepEqual(shape(parseFilter('btn(employeeCount,15,50)')), { op: 'btn', field: 'employeeCount', values: ['15', '50'] });
    assert.deepEqual(shape(parseFilter('isnull(zip)')), { op: 'isnull', field: 'zip', values: [] });
  });

  test('spaces around names and punctuation; escapes in values; case of operators', () => {
    assert.deepEqual(shape(parseFilter(' and( EQ( a , b c ) , Like(x,\\ y\\,z\\)) ) ')), {
      op: 'AND',
      children: [
        { op: 'eq', field: 'a', values: ['b c'] },
        { op: 'like', field: 'x', values: [' y,z)'] },
      ],
    });
    assert.deepEqual(shape(parseFilter('eq(a,)')), { op: 'eq', field: 'a', values: [''] });
  });

  test('errors name their position', () => {
    const cases: Array<[string, number]> = [
      ['AND(eq(firstName,Sophia)', 24],
      ['OR(gt(annualRevenue,500000)),gt(employeeCount,1000))', 28],
      ['eq(firstName)', 0],
      ['foo(a,1)', 0],
      ['eq(1a,2)', 3],
      ['eq(a.,2)', 5],
      ['eq(a,b(c))', 6],
      ['btn(a,1)', 0],
      ['', 0],
      ['AND()', 4],
      ['eq(a,b\\', 6],
    ];
    for (const [text, position] of cases) {
      assert.throws(() => parseFilter(text), (error: unknown) => error instanceof FilterSyntaxError && error.position === position, text);
    }
    const deep = 'AND('.repeat(20) + 'eq(a,1)' + ')'.repeat(20);
    assert.throws(() => parseFilter(deep), FilterSyntaxError);
    assert.throws(() => parseFilter(`eq(a,${'x'.repeat(5000)})`), FilterSyntaxError);
  });

  test('print then parse is the identity on trees', () => {
    fc.assert(
      fc.property(tree, (node) => {
        assert.deepEqual(shape(parseFilter(printFilter(node))), shape(node));
      }),
      { ...BOUNDED, numRuns: 20_000 },
    );
  });

  test('parse then print then parse gives the same tree for any text that parses', () => {
    const alphabet = fc.constantFrom('AND', 'OR', 'eq', 'like', 'in', 'btn', 'isnull', '(', ')', ',', '.', 'a', 'b', ' ', '\\', '1');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }).map((parts) => parts.join('')), (text) => {
        let node: FilterNode;
        try {
          node = parseFilter(text);
        } catch (error) {
          assert.ok(error instanceof FilterSyntaxError, String(error));
          assert.ok(error.position >= 0 && error.position <= text.length);
          return;
        }
        assert.deepEqual(shape(parseFilter(printFilter(node))), shape(node));
      }),
      BOUNDED,
    );
  });

  test('random input never escapes as anything but a 400', () => {
    const text = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), tree.map(printFilter));
    fc.assert(
      fc.property(text, fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 }), (filter, param, raw) => {
        for (const params of [{ filter }, { [param]: raw }, { sort: raw }, { pageSize: raw }, { fullName: `like::${raw}` }]) {
          try {
            parseListQuery(contactResource, params);
          } catch (error) {
            assert.ok(error instanceof DialplaneError, `not a DialplaneError: ${String(error)}`);
            assert.equal(error.status, 400, `${error.code}: ${error.message}`);
          }
        }
      }),
      BOUNDED,
    );
  });
});
