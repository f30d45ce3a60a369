/**
 * A schema violation told in the request's own words: the field as the client wrote it and what it must be
 * (`webhook_secret must be at least 16 characters`), never the validator's internal path
 * (`body/webhook_secret must NOT have fewer than 16 characters`).
 */
export interface SchemaViolation {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string | undefined;
}

export interface DescribedViolation {
  /** The field, dot-separated from the top of its part of the request (`caller_id_allow_list.0`); absent for the whole part. */
  readonly field: string | undefined;
  readonly message: string;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

const FORMAT_NAMES: Record<string, string> = {
  'date-time': 'an ISO-8601 date-time',
  date: 'an ISO-8601 date',
  uri: 'a URL',
  email: 'an email address',
  uuid: 'a UUID',
};

/** `location` is the part of the request (body, querystring, params, headers) that failed. */
export function describeViolation(errors: readonly SchemaViolation[], location: string): DescribedViolation {
  const first = errors[0];
  if (!first) return { field: undefined, message: `the ${location} is not valid` };
  const path = fieldOf(first.instancePath);
  // A union (anyOf: a string or null, one of several literals) reports one error per branch for the same field.
  const here = errors.filter((e) => e.instancePath === first.instancePath && e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  const literals = here.flatMap((e) =>
    e.keyword === 'const' ? [e.params.allowedValue] : e.keyword === 'enum' ? ((e.params.allowedValues as unknown[] | undefined) ?? []) : [],
  );
  let chosen = first;
  let phrase: string;
  if (here.length > 1 && literals.length === here.length) {
    phrase = `must be one of ${literals.map(show).join(', ')}`;
  } else if (here.length > 1 && here.every((e) => e.keyword === 'type')) {
    phrase = `must be ${here.map((e) => TYPE_NAMES[String(e.params.type)] ?? String(e.params.type)).join(' or ')}`;
  } else {
    // The specific complaint (too short, wrong format) says more than "or null" would.
    chosen = here.find((e) => e.keyword !== 'type' && e.keyword !== 'const' && e.keyword !== 'enum') ?? here[0] ?? first;
    phrase = phraseOf(chosen);
  }
  const field = fieldWithProperty(path, chosen);
  const subject = field ?? `the ${location}`;
  return { field, message: `${subject} ${phrase}` };
}

function fieldOf(instancePath: string): string | undefined {
  const path = instancePath.replace(/^\//, '').split('/').map(unescapePointer).join('.');
  return path === '' ? undefined : path;
}

function unescapePointer(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** `required` and `additionalProperties` are reported on the object; the field they are about is a parameter. */
function fieldWithProperty(path: string | undefined, error: SchemaViolation): string | undefined {
  const property =
    error.keyword === 'required' ? error.params.missingProperty
    : error.keyword === 'additionalProperties' ? error.params.additionalProperty
    : undefined;
  if (typeof property !== 'string') return path;
  return path ? `${path}.${property}` : property;
}

function phraseOf(error: SchemaViolation): string {
  const p = error.params;
  const limit = Number(p.limit);
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a field of this request';
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `must be at least ${limit} characters`;
    case 'maxLength':
      return `must be at most ${limit} characters`;
    case 'minimum':
      return `must be at least ${limit}`;
    case 'maximum':
      return `must be at most ${limit}`;
    case 'exclusiveMinimum':
      return `must be more than ${limit}`;
    case 'exclusiveMaximum':
      return `must be less than ${limit}`;
    case 'minItems':
      return `must have at least ${limit} ${limit === 1 ? 'item' : 'items'}`;
    case 'maxItems':
      return `must have at most ${limit} ${limit === 1 ? 'item' : 'items'}`;
    case 'minProperties':
      return `must have at least ${limit} ${limit === 1 ? 'field' : 'fields'}`;
    case 'maxProperties':
      return `must have at most ${limit} ${limit === 1 ? 'field' : 'fields'}`;
    case 'uniqueItems':
      return 'must not repeat an item';
    case 'type':
      return `must be ${String(p.type)
        .split(',')
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(' or ')}`;
    case 'const':
      return `must be ${show(p.allowedValue)}`;
    case 'enum':
      return `must be one of ${((p.allowedValues as unknown[] | undefined) ?? []).map(show).join(', ')}`;
    case 'pattern':
      return 'is not in the expected format';
    case 'format':
      return `must be ${FORMAT_NAMES[String(p.format)] ?? `in the ${String(p.format)} format`}`;
    case 'multipleOf':
      return `must be a multiple of ${String(p.multipleOf)}`;
    default:
      return error.message ?? 'is not valid';
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
