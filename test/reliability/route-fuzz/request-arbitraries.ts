import fc from 'fast-check';

/** The part of JSON Schema (OpenAPI 3.0 flavour) the route schemas use. */
export interface JsonSchema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly enum?: readonly unknown[];
  readonly nullable?: boolean;
  readonly pattern?: string;
  readonly format?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
}

/** Values that mean something to the server (its ids, numbers, URLs), by field or path parameter name. */
export type Pools = Readonly<Record<string, readonly unknown[]>>;

/** Strings that break naive code: lone surrogates, NUL, direction overrides, line separators, quotes. */
export const NASTY_STRINGS: readonly string[] = [
  '\uD800',
  'a\uDFFFb',
  '\uD83D',
  '\u0000',
  'abc\u0000def',
  '\u202Eevil',
  '\uFEFFbom',
  'e\u0301\u0301\u0301',
  '👩‍👩‍👧‍👦',
  '\u2028\u2029',
  '\\',
  '"\'`',
  '${7*7}{{7*7}}',
  "'; drop table accounts; --",
  '%00%zz',
  '\r\n\t',
  ' ',
  '',
  '٣٤٥٦',
  '＋１４１５５５５１２３４',
];

const WRONG_VALUES: readonly unknown[] = [0, -1, 1.5, 1e308, -0, true, false, null, [], {}, '', 'x', [1, 'a'], { a: { b: [] } }, '1', 'true'];

export function valueOf(schema: JsonSchema, name: string | undefined, pools: Pools, depth = 0): fc.Arbitrary<unknown> {
  const generated = fromSchema(schema, pools, depth);
  const pool = name !== undefined ? pools[name] : undefined;
  const base = pool && pool.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...pool), weight: 3 }, { arbitrary: generated, weight: 2 }) : generated;
  return schema.nullable ? fc.oneof({ arbitrary: base, weight: 5 }, { arbitrary: fc.constant(null), weight: 1 }) : base;
}

function fromSchema(schema: JsonSchema, pools: Pools, depth: number): fc.Arbitrary<unknown> {
  const union = schema.anyOf ?? schema.oneOf;
  if (union && union.length > 0) return fc.oneof(...union.map((branch) => valueOf(branch, undefined, pools, depth)));
  if (schema.enum && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000, max: schema.maximum ?? 100_000 });
    case 'number': {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 0.01 : -1_000);
      const max = schema.maximum ?? 100_000;
      const whole = fc.integer({ min: Math.ceil(min), max: Math.max(Math.ceil(min), Math.floor(max)) }).filter((n) => n <= max);
      return fc.oneof(whole, fc.double({ min, max, noNaN: true }));
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(valueOf(schema.items ?? {}, undefined, pools, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)),
      });
    case 'object':
      return objectOf(schema, pools, depth);
    default:
      return depth > 2 ? fc.constant(null) : fc.jsonValue({ maxDepth: 2 });
  }
}

function stringOf(schema: JsonSchema): fc.Arbitrary<string> {
  const max = schema.maxLength ?? 64;
  if (schema.format === 'date-time') {
    return fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
  }
  if (schema.pattern) {
    return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= max && s.length >= (schema.minLength ?? 0));
  }
  const min = schema.minLength ?? 0;
  return fc.string({ minLength: min, maxLength: Math.max(min, Math.min(max, 24)), unit: fc.constantFrom('a', '1', '+', ' ', '-', '.', '@', 'é', '中') });
}

function objectOf(schema: JsonSchema, pools: Pools, depth: number): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  const extra = schema.additionalProperties;
  if (names.length === 0 && typeof extra === 'object') {
    return fc.dictionary(fc.constantFrom('0', '1', '2', '9', '*', '#'), valueOf(extra, undefined, pools, depth + 1), { maxKeys: 3 });
  }
  if (names.length === 0) return depth > 2 ? fc.constant({}) : fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 });
  const model = Object.fromEntries(names.map((key) => [key, valueOf(properties[key]!, key, pools, depth + 1)]));
  return fc.record(model, { requiredKeys: (schema.required ?? []).filter((key) => key in model) });
}

/** A body as bytes with its Content-Type (undefined: no header), and what was done to it. */
export interface BodyPlan {
  readonly payload: Buffer | undefined;
  readonly contentType: string | undefined;
  readonly label: string;
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/xml',
  'application/JSON',
  'application/json;',
  '*/*',
  'a/b/c',
  'application/merge-patch+json',
  undefined,
] as const;

type Mutation =
  | { kind: 'valid' }
  | { kind: 'wrong-type'; pick: number; value: unknown }
  | { kind: 'missing-field'; pick: number }
  | { kind: 'extra-field'; key: string; value: unknown }
  | { kind: 'huge-string'; pick: number; size: 'over-max' | 'near-limit' | 'over-limit'; char: string }
  | { kind: 'unicode'; pick: number; value: string }
  | { kind: 'raw'; text: (json: string) => Buffer; name: string };

function rawText(name: string, text: (json: string) => string | Buffer): Mutation {
  return { kind: 'raw', name, text: (json) => toBuffer(text(json)) };
}
const toBuffer = (value: string | Buffer) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value);

/** The JSON with bytes that are no UTF-8 (a lone continuation byte, an encoded surrogate) inside its first string. */
function invalidUtf8Inside(json: string): Buffer {
  const at = json.indexOf('"');
  if (at === -1) return Buffer.concat([Buffer.from('"'), Buffer.from([0x80, 0xed, 0xa0, 0x80]), Buffer.from('"')]);
  return Buffer.concat([Buffer.from(json.slice(0, at + 1)), Buffer.from([0x80, 0xed, 0xa0, 0x80, 0xc3]), Buffer.from(json.slice(at + 1))]);
}

function mutationArb(bodyLimit: number): fc.Arbitrary<Mutation> {
  const deep = fc.integer({ min: 1_000, max: Math.floor(bodyLimit / 2) - 2 });
  return fc.oneof(
    { arbitrary: fc.constant<Mutation>({ kind: 'valid' }), weight: 8 },
    { arbitrary: fc.record({ kind: fc.constant('wrong-type' as const), pick: fc.nat(), value: fc.constantFrom(...WRONG_VALUES) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('missing-field' as const), pick: fc.nat() }), weight: 2 },
    {
      arbitrary: fc.record({
        kind: fc.constant('extra-field' as const),
        key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'toString', ''), fc.string({ maxLength: 8 })),
        value: fc.jsonValue({ maxDepth: 2 }),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('huge-string' as const),
        pick: fc.nat(),
        size: fc.constantFrom('over-max' as const, 'near-limit' as const, 'over-limit' as const),
        char: fc.constantFrom('a', 'é', '😀', '\u0000', ' ', '\uD800'),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('unicode' as const),
        pick: fc.nat(),
        value: fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 })),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.oneof(
        fc.nat().map((cut) => rawText('truncated JSON', (json) => json.slice(0, json.length > 1 ? cut % (json.length - 1) : 0))),
        fc.constantFrom('}', ',', ']]', '\u0000', 'garbage', ' {"a":1}').map((tail) => rawText('trailing garbage', (json) => json + tail)),
        fc.constantFrom('{', '{"a":}', "{'a':1}", '{a:1}', '[1,]', 'nul', 'NaN', '{"a":1e99999}', '"\\uD800"', '{"a":"\\u0000"}', '\uFEFF{}').map((text) =>
          rawText('malformed JSON', () => text),
        ),
        fc.constant(rawText('not UTF-8', (json) => Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(json)]))),
        fc.constant(rawText('invalid UTF-8 in a string', invalidUtf8Inside)),
        fc.constantFrom('null', '[]', '"x"', '123', 'true', '[{}]', '{}').map((text) => rawText('not an object', () => text)),
        fc.constant(rawText('empty', () => '')),
        deep.map((depth) => rawText('deep arrays', () => '['.repeat(depth) + ']'.repeat(depth))),
        deep.map((depth) => rawText('deep objects', () => '{"a":'.repeat(Math.floor(depth / 3)) + '1' + '}'.repeat(Math.floor(depth / 3)))),
        fc.constant(rawText('duplicate keys', (json) => (json.startsWith('{"') ? json.replace(/^\{("[^"]*"):/, '{$1:{"dup":true},$1:') : json))),
      ),
      weight: 4,
    },
  );
}

function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((item, index) => [[...prefix, index], ...paths(item, [...prefix, index])]);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...paths(item, [...prefix, key])]);
  }
  return [];
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  defineOwn(node, path[path.length - 1]!, value);
  return copy;
}

/** An own enumerable property even for "__proto__", so JSON.stringify writes it as a key. */
function defineOwn(target: Record<string | number, unknown>, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function apply(value: unknown, mutation: Mutation, bodyLimit: number): { payload: Buffer; label: string } {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8');
  const all = paths(value);
  const pick = (n: number) => all[n % Math.max(all.length, 1)];
  switch (mutation.kind) {
    case 'valid':
      return { payload: json(value), label: 'schema' };
    case 'wrong-type':
      return { payload: json(setAt(value, pick(mutation.pick) ?? [], mutation.value)), label: 'wrong type' };
    case 'missing-field': {
      const path = all.filter((p) => typeof p[p.length - 1] === 'string')[mutation.pick % Math.max(all.length, 1)];
      if (!path) return { payload: json({}), label: 'missing field' };
      const copy = structuredClone(value) as Record<string, unknown>;
      let node = copy;
      for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
      delete node[path[path.length - 1] as string];
      return { payload: json(copy), label: 'missing field' };
    }
    case 'extra-field': {
      const target = value !== null && typeof value === 'object' && !Array.isArray(value) ? structuredClone(value) : {};
      defineOwn(target as Record<string, unknown>, mutation.key, mutation.value);
      return { payload: json(target), label: 'extra field' };
    }
    case 'huge-string': {
      const base = json(value).length;
      const unit = Buffer.byteLength(mutation.char, 'utf8') + (mutation.char === '\u0000' || mutation.char === '\uD800' ? 5 : 0);
      const bytes = mutation.size === 'over-max' ? 5_000 : mutation.size === 'near-limit' ? bodyLimit - base - 256 : bodyLimit + 16;
      const text = mutation.char.repeat(Math.max(1, Math.floor(bytes / Math.max(unit, 1))));
      const path = pick(mutation.pick) ?? ['huge'];
      return { payload: json(setAt(value !== null && typeof value === 'object' ? value : {}, path, text)), label: `huge string (${mutation.size})` };
    }
    case 'unicode': {
      const path = pick(mutation.pick) ?? ['text'];
      return { payload: json(setAt(value !== null && typeof value === 'object' ? value : {}, path, mutation.value)), label: 'unicode' };
    }
    case 'raw':
      return { payload: mutation.text(JSON.stringify(value) ?? 'null'), label: mutation.name };
  }
}

/** A body for an operation: from its schema (or none), then possibly mutated, with a Content-Type that may be wrong. */
export function bodyPlanOf(schema: JsonSchema | undefined, pools: Pools, bodyLimit: number, examples: readonly unknown[] = []): fc.Arbitrary<BodyPlan> {
  const contentType = fc.oneof({ arbitrary: fc.constant<string | undefined>('application/json'), weight: 6 }, { arbitrary: fc.constantFrom(...CONTENT_TYPES), weight: 1 });
  if (!schema) {
    return fc.oneof(
      { arbitrary: fc.constant<BodyPlan>({ payload: undefined, contentType: undefined, label: 'no body' }), weight: 6 },
      {
        arbitrary: fc.tuple(fc.jsonValue({ maxDepth: 2 }), mutationArb(bodyLimit), contentType).map(([value, mutation, type]) => ({
          ...apply(value, mutation, bodyLimit),
          contentType: type,
        })),
        weight: 1,
      },
    );
  }
  const generated = valueOf(schema, undefined, pools);
  const value = examples.length > 0 ? fc.oneof(generated, fc.constantFrom(...examples)) : generated;
  return fc.tuple(value, mutationArb(bodyLimit), contentType).map(([value, mutation, type]) => ({
    ...apply(value, mutation, bodyLimit),
    contentType: type,
  }));
}

/** Percent-encodes what encodeURIComponent can; a lone surrogate (which it refuses) goes as its CESU-8 bytes. */
export function encodeLoosely(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...text].map((ch) => (/[\uD800-\uDFFF]/.test(ch) ? '%ED%A0%80' : encodeURIComponent(ch))).join('');
  }
}

/** Path segments no valid id looks like: bad percent-encoding, NUL, dot segments, an encoded slash, too long. */
export const BAD_SEGMENTS: readonly string[] = [
  '%00',
  '%zz',
  '%',
  '%ED%A0%80',
  '%C0%AF',
  '..',
  '.',
  '%2F',
  '%2e%2e',
  'a%2Fb',
  '%F0%9F%98%80',
  '%20',
  '%E2%80%AE',
  'null',
  'undefined',
  '-1',
  '0',
  '__proto__',
  'x'.repeat(65),
  '9'.repeat(3_000),
  'a;b=c',
  '*',
  '%25',
  '%2B14155551234',
];

/** A path parameter: a real id (when there is one), a string of its schema, or a bad segment; already encoded. */
export function pathSegmentOf(schema: JsonSchema, pool: readonly string[]): fc.Arbitrary<string> {
  const generated = fc.oneof(stringOf(schema), fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'binary', maxLength: 8 })).map(encodeLoosely);
  return fc.oneof(
    ...(pool.length > 0 ? [{ arbitrary: fc.constantFrom(...pool.map(encodeLoosely)), weight: 5 }] : []),
    { arbitrary: generated, weight: 2 },
    { arbitrary: fc.constantFrom(...BAD_SEGMENTS), weight: 2 },
  );
}

export interface QueryParam {
  readonly name: string;
  readonly schema: JsonSchema;
}

/** Query parameters named by DialLink's list routes (docs/diallink.md), which the OpenAPI document leaves out. */
export const DIALLINK_LIST_PARAMS: readonly QueryParam[] = [
  { name: 'pageNumber', schema: { type: 'string', pattern: '^[0-9]{1,3}$' } },
  { name: 'pageSize', schema: { type: 'string', pattern: '^[0-9]{1,3}$' } },
  { name: 'sort', schema: { enum: ['+firstName', '-updatedAt,+lastName', '-createdAt', '+nope', '++', '-', ',', '+id,+id'] } },
  {
    name: 'filter',
    schema: {
      enum: [
        'eq(firstName,Ada)',
        'AND(eq(firstName,Sophia),like(phoneNumbers.phoneNumber,1675))',
        'OR(gt(employeeCount,1000),AND(isnotnull(industry),in(addresses.country,US,FR)))',
        'gt(createdAt,2020-01-01T00:00:00Z)',
        'eq(direction,outbound)',
        'eq(',
        'AND(',
        'like(employeeCount,1)',
        'in(id)',
        'eq(nope,1)',
        'eq(enabled,maybe)',
        `${'AND('.repeat(40)}eq(id,1)${')'.repeat(40)}`,
      ],
    },
  },
  { name: 'firstName', schema: { enum: ['Ada', 'eq::Ada', 'like::A', 'in::A::B', 'gt::', 'between::1'] } },
  { name: 'employeeCount', schema: { enum: ['gt::10', 'like::1', '1.5', 'x'] } },
  { name: 'direction', schema: { enum: ['outbound', 'ne::inbound', 'eq'] } },
];

/** A query string from the operation's parameters, with duplicates, unknown names, bad encoding and odd shapes. */
export function queryPlanOf(params: readonly QueryParam[], pools: Pools): fc.Arbitrary<{ query: string; label: string }> {
  const pair = (param: QueryParam) =>
    fc
      .oneof(
        { arbitrary: valueOf(param.schema, param.name, pools).map((v) => encodeLoosely(String(v))), weight: 4 },
        { arbitrary: fc.constantFrom(...NASTY_STRINGS).map(encodeLoosely), weight: 1 },
        { arbitrary: fc.constantFrom('%zz', '%', '%ED%A0%80', '%00', '', '1%2C2', '0', '-1', '101', '1e3', '%205', '9'.repeat(400)), weight: 1 },
      )
      .map((value) => `${encodeURIComponent(param.name)}=${value}`);
  const documented = params.length === 0 ? fc.constant<string[]>([]) : fc.tuple(...params.map((p) => fc.option(pair(p), { nil: undefined }))).map((pairs) => pairs.filter((p): p is string => p !== undefined));
  const extra = fc.oneof(
    { arbitrary: fc.constant<{ text: string[]; label: string }>({ text: [], label: 'documented' }), weight: 5 },
    { arbitrary: fc.constant({ text: ['DUP'], label: 'duplicate parameter' }), weight: 2 },
    { arbitrary: fc.constantFrom('nope=1', '__proto__=1', 'constructor[prototype]=1', 'a[]=1', 'a[b]=1', '=', '&&', 'noequals', '%zz=1', '%=x').map((text) => ({ text: [text], label: 'odd parameter' })), weight: 2 },
  );
  return fc.tuple(documented, extra).map(([pairs, more]) => {
    const all = more.text[0] === 'DUP' ? (pairs.length > 0 ? [...pairs, pairs[0]!, pairs[0]!] : ['limit=1', 'limit=2']) : [...pairs, ...more.text];
    return { query: all.length > 0 ? `?${all.join('&')}` : '', label: pairs.length > 0 || more.text.length > 0 ? more.label : 'none' };
  });
}
