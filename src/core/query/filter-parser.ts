/**
 * The DialLink filter language: a syntax tree, its parser and its printer.
 *
 *   filter     = node
 *   node       = group / condition
 *   group      = ("AND" / "OR") "(" node *("," node) ")"
 *   condition  = operator "(" field *("," value) ")"
 *   operator   = "isnull" / "isnotnull" / "eq" / "neq" / "gt" / "gte" / "lt" / "lte"
 *              / "in" / "nin" / "btn" / "like" / "notlike"
 *   field      = name *("." name)          ; name = ALPHA *(ALPHA / DIGIT / "_")
 *   value      = *(char / "\" any)         ; char: anything but "," "(" ")" "\"
 *
 * Operator and group names are matched without regard to case. Spaces are allowed around names and punctuation;
 * a value's own leading and trailing spaces are dropped unless escaped ("\ "). The parser is pure: it never
 * evaluates anything and reports the first error with its position (0-based, in UTF-16 code units of the text).
 */

export const CONDITION_OPERATORS = [
  'isnull',
  'isnotnull',
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'nin',
  'btn',
  'like',
  'notlike',
] as const;

export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];
export type GroupOperator = 'AND' | 'OR';

export interface GroupNode {
  readonly kind: 'group';
  readonly op: GroupOperator;
  readonly children: readonly FilterNode[];
  readonly position: number;
}

export interface ConditionNode {
  readonly kind: 'condition';
  readonly op: ConditionOperator;
  readonly field: string;
  readonly values: readonly string[];
  readonly position: number;
  readonly fieldPosition: number;
}

export type FilterNode = GroupNode | ConditionNode;

/** How many values each operator takes: [least, most]. */
export const ARITY: Readonly<Record<ConditionOperator, readonly [number, number]>> = {
  isnull: [0, 0],
  isnotnull: [0, 0],
  eq: [1, 1],
  neq: [1, 1],
  gt: [1, 1],
  gte: [1, 1],
  lt: [1, 1],
  lte: [1, 1],
  in: [1, Infinity],
  nin: [1, Infinity],
  btn: [2, 2],
  like: [1, 1],
  notlike: [1, 1],
};

/** Bounds that keep one request's filter cheap to parse and to run. */
export const FILTER_LIMITS = { maxLength: 4_000, maxDepth: 16, maxValues: 200 } as const;

export class FilterSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'FilterSyntaxError';
  }
}

const NAME_START = /[A-Za-z]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const SPACE = /[ \t]/;

class Parser {
  private pos = 0;
  private values = 0;

  constructor(private readonly text: string) {}

  parse(): FilterNode {
    if (this.text.length > FILTER_LIMITS.maxLength) {
      throw new FilterSyntaxError(`the filter is longer than ${FILTER_LIMITS.maxLength} characters`, FILTER_LIMITS.maxLength);
    }
    const node = this.node(1);
    this.spaces();
    if (this.pos < this.text.length) throw new FilterSyntaxError(`unexpected '${this.text[this.pos]}' after the end of the filter`, this.pos);
    return node;
  }

  private node(depth: number): FilterNode {
    if (depth > FILTER_LIMITS.maxDepth) throw new FilterSyntaxError(`groups are nested deeper than ${FILTER_LIMITS.maxDepth}`, this.pos);
    this.spaces();
    const position = this.pos;
    const name = this.name('an operator (AND, OR, eq, like, ...)');
    const upper = name.toUpperCase();
    const lower = name.toLowerCase();
    this.expect('(');
    if (upper === 'AND' || upper === 'OR') {
      const children: FilterNode[] = [this.node(depth + 1)];
      while (this.punctuation() === ',') {
        this.pos++;
        children.push(this.node(depth + 1));
      }
      this.expect(')');
      return { kind: 'group', op: upper, children, position };
    }
    if (!(CONDITION_OPERATORS as readonly string[]).includes(lower)) {
      throw new FilterSyntaxError(`unknown operator '${name}'`, position);
    }
    const op = lower as ConditionOperator;
    this.spaces();
    const fieldPosition = this.pos;
    const field = this.field();
    const values: string[] = [];
    while (this.punctuation() === ',') {
      this.pos++;
      values.push(this.value());
    }
    this.expect(')');
    const [least, most] = ARITY[op];
    if (values.length < least || values.length > most) {
      const wanted = least === most ? `${least}` : most === Infinity ? `at least ${least}` : `${least} to ${most}`;
      throw new FilterSyntaxError(`${op} takes ${wanted} value${least === 1 && most === 1 ? '' : 's'}, not ${values.length}`, position);
    }
    return { kind: 'condition', op, field, values, position, fieldPosition };
  }

  private field(): string {
    let field = this.name('a field name');
    while (this.text[this.pos] === '.') {
      this.pos++;
      field += `.${this.name('a field name after "."')}`;
    }
    return field;
  }

  private name(what: string): string {
    const start = this.pos;
    if (!NAME_START.test(this.text[this.pos] ?? '')) throw new FilterSyntaxError(`expected ${what}`, this.pos);
    while (NAME_CHAR.test(this.text[this.pos] ?? '')) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** A value: raw text up to an unescaped ",", "(" or ")"; unescaped spaces at either end are dropped. */
  private value(): string {
    if (++this.values > FILTER_LIMITS.maxValues) throw new FilterSyntaxError(`more than ${FILTER_LIMITS.maxValues} values`, this.pos);
    let out = '';
    // Index in `out` up to which characters are kept even if they are spaces (escaped ones).
    let keptUpTo = 0;
    let started = false;
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw new FilterSyntaxError("expected ')' before the end of the filter", this.pos);
      if (c === ',' || c === ')') break;
      if (c === '(') throw new FilterSyntaxError("unexpected '(' in a value (write \\( for a literal one)", this.pos);
      if (c === '\\') {
        const next = this.text[this.pos + 1];
        if (next === undefined) throw new FilterSyntaxError("'\\' at the end of the filter", this.pos);
        // A surrogate pair escaped as a whole stays whole.
        const code = this.text.codePointAt(this.pos + 1)!;
        const char = String.fromCodePoint(code);
        out += char;
        this.pos += 1 + char.length;
        keptUpTo = out.length;
        started = true;
        continue;
      }
      this.pos++;
      if (!started && SPACE.test(c)) continue;
      started = true;
      out += c;
      if (!SPACE.test(c)) keptUpTo = out.length;
    }
    return out.slice(0, keptUpTo);
  }

  private punctuation(): string | undefined {
    this.spaces();
    return this.text[this.pos];
  }

  private expect(char: string): void {
    this.spaces();
    if (this.text[this.pos] !== char) {
      const found = this.text[this.pos];
      throw new FilterSyntaxError(`expected '${char}' but found ${found === undefined ? 'the end of the filter' : `'${found}'`}`, this.pos);
    }
    this.pos++;
  }

  private spaces(): void {
    while (SPACE.test(this.text[this.pos] ?? '')) this.pos++;
  }
}

/** Parses a filter into its syntax tree, or throws FilterSyntaxError naming the position of the first error. */
export function parseFilter(text: string): FilterNode {
  return new Parser(text).parse();
}

/** Escapes a value so that parseFilter reads it back unchanged. */
export function escapeValue(value: string): string {
  // Spaces at either end would be dropped by the parser: those are escaped, the ones inside are not.
  const leadEnd = /^[ \t]*/.exec(value)![0].length;
  const trailStart = leadEnd === value.length ? value.length : value.length - /[ \t]*$/.exec(value)![0].length;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const escape = c === '\\' || c === ',' || c === '(' || c === ')' || ((c === ' ' || c === '\t') && (i < leadEnd || i >= trailStart));
    out += escape ? `\\${c}` : c;
  }
  return out;
}

/** The canonical text of a tree: no spaces, operators as the document writes them (AND, OR, eq, ...). */
export function printFilter(node: FilterNode): string {
  if (node.kind === 'group') return `${node.op}(${node.children.map(printFilter).join(',')})`;
  return `${node.op}(${[node.field, ...node.values.map(escapeValue)].join(',')})`;
}
