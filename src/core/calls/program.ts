import { DialplaneError } from '../../errors.js';

/**
 * Verb programs: the JSON a call runs, given by an API, stored on an application or answered by an action hook.
 * One schema, checked whole before anything runs; docs/call-control-verbs.md is its user-facing description.
 *
 * Ranges (seconds unless stated; "int" means an integer):
 *
 * | verb     | field             | type / range                                       | default                   |
 * |----------|-------------------|----------------------------------------------------|---------------------------|
 * | program  | (array)           | 1..100 verbs                                       |                           |
 * | say      | text              | string, 1..4096 chars                              | required                  |
 * |          | voice             | string, 1..64 chars                                | the engine's voice        |
 * |          | loop              | int 1..100                                         | 1                         |
 * | play     | url / recording   | exactly one: http(s) URL <= 2048 chars / id        | required                  |
 * |          | loop              | int 1..100                                         | 1                         |
 * | pause    | length            | number, 0 < length <= 3600 (fractions allowed)     | required                  |
 * | gather   | input             | ['digits']                                         | ['digits']                |
 * |          | numDigits         | int 1..32                                          | unset: up to 32 keys      |
 * |          | finishOnKey       | one of 0-9 * # A-D, or '' for none                 | '#'                       |
 * |          | timeout           | int 1..600 (first key, from the prompt's end)      | 5                         |
 * |          | interDigitTimeout | int 1..600                                         | timeout                   |
 * |          | say / play        | a say or play verb without `verb`; at most one     | no prompt                 |
 * |          | onDigits          | keys (1..32 of 0-9 * # A-D) -> a program           | none                      |
 * | dial     | target            | 1..10 targets                                      | required                  |
 * |          | callerId          | phone number, 1..32 chars                          | the called number / trunk |
 * |          | timeout           | int 1..600 (ringing)                               | 30                        |
 * |          | timeLimit         | int 1..86400 (bridged duration)                    | no limit of its own       |
 * | record   | maxLength         | int 1..14400                                       | 3600                      |
 * |          | finishOnKey       | one of 0-9 * # A-D, or '' for none                 | '#'                       |
 * |          | beep              | boolean                                            | true                      |
 * | redirect | actionHook        | http(s) URL <= 2048 chars                          | required                  |
 * | transfer | to                | phone number (1..32 chars) or sip(s):user@host[:port][;transport=…] | required         |
 *
 * gather, dial, record and transfer take an optional actionHook with the same rule. A program's verbs, counting those nested in
 * gather's onDigits at any depth, are at most 100.
 */

export type DialTarget =
  | { type: 'phone'; number: string }
  | { type: 'extension'; extension: string }
  | { type: 'sip'; sipUri: string };

export type SayVerb = { verb: 'say'; text: string; voice?: string; loop?: number };
export type PlayVerb = { verb: 'play'; url?: string; recording?: string; loop?: number };
export type Prompt = SayVerb | PlayVerb;

export type Verb =
  | SayVerb
  | PlayVerb
  | { verb: 'pause'; length: number }
  | {
      verb: 'gather';
      input?: ['digits'];
      numDigits?: number;
      finishOnKey?: string;
      timeout?: number;
      interDigitTimeout?: number;
      say?: Omit<SayVerb, 'verb'>;
      play?: Omit<PlayVerb, 'verb'>;
      /** The program that takes over when exactly these keys were collected, in place of the rest of this one. */
      onDigits?: Readonly<Record<string, Program>>;
      actionHook?: string;
    }
  | { verb: 'dial'; target: DialTarget[]; callerId?: string; timeout?: number; timeLimit?: number; actionHook?: string }
  | { verb: 'record'; maxLength?: number; finishOnKey?: string; beep?: boolean; actionHook?: string }
  | { verb: 'hangup' }
  | { verb: 'redirect'; actionHook: string }
  | { verb: 'transfer'; to: string; actionHook?: string };

export type Program = Verb[];
export type VerbName = Verb['verb'];
export type GatherVerb = Extract<Verb, { verb: 'gather' }>;
export type DialVerb = Extract<Verb, { verb: 'dial' }>;
export type RecordVerb = Extract<Verb, { verb: 'record' }>;
export type TransferVerb = Extract<Verb, { verb: 'transfer' }>;

export const PROGRAM_MAX_VERBS = 100;
export const HOOK_URL_MAX_CHARS = 2048;
export const GATHER_MAX_DIGITS = 32;
export const DIAL_MAX_TARGETS = 10;
/** gather's finishOnKey when none is given. */
export const DEFAULT_FINISH_ON_KEY = '#';

const KEYS = /^[0-9*#A-D]$/;
const KEY_SEQUENCE = new RegExp(`^[0-9*#A-D]{1,${GATHER_MAX_DIGITS}}$`);
const PHONE = /^\+?[0-9][0-9 ().-]*$/;
const ID = /^[A-Za-z0-9_.-]+$/;
/** sip:user@host[:port], or sips:, with an optional transport (TLS: sips: or ;transport=tls). */
const SIP_URI = /^sips?:[^\s@:;]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;transport=(udp|tcp|tls))?$/i;

/** Where a problem was found: the verb's index in the program and the field's path inside the verb. */
class At {
  constructor(
    readonly index: number,
    readonly verb: string | undefined,
    private readonly prefix = '',
  ) {}

  in(field: string): At {
    return new At(this.index, this.verb, `${this.prefix}${field}.`);
  }

  at(field: string, i: number): At {
    return new At(this.index, this.verb, `${this.prefix}${field}[${i}].`);
  }

  fail(field: string, problem: string): never {
    const path = `${this.prefix}${field}`;
    const where = this.verb === undefined ? `verb ${this.index}` : `verb ${this.index} (${this.verb})`;
    throw new DialplaneError('invalid_program', `${where}: ${path} ${problem}`, { index: this.index, field: path });
  }
}

type Fields = Readonly<Record<string, unknown>>;

/** The verbs a program may still hold, nested ones included, so an onDigits tree stays as small as a flat program. */
class Budget {
  private left = PROGRAM_MAX_VERBS;

  take(at: At): void {
    if (this.left-- <= 0) at.fail('verb', `is one too many: a program holds at most ${PROGRAM_MAX_VERBS} verbs, counting those in onDigits`);
  }
}

/** Names a verb's place: at the top of the program, or inside a gather's onDigits. */
type Place = (name: string | undefined) => At;

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Refuses fields the verb does not know; values are only read, never written. */
function onlyKnown(at: At, input: Fields, known: readonly string[]): void {
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) at.fail(key, `is not a field of this verb (allowed: ${known.join(', ') || 'none'})`);
  }
}

function has(input: Fields, key: string): boolean {
  return Object.hasOwn(input, key) && input[key] !== undefined;
}

function str(at: At, input: Fields, key: string, max: number, pattern?: RegExp): string {
  const value = input[key];
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    at.fail(key, `must be a string of 1 to ${max} characters`);
  }
  if (pattern && !pattern.test(value)) at.fail(key, 'is not in the expected format');
  return value;
}

function optStr(at: At, input: Fields, key: string, max: number, pattern?: RegExp): string | undefined {
  return has(input, key) ? str(at, input, key, max, pattern) : undefined;
}

function optInt(at: At, input: Fields, key: string, min: number, max: number): number | undefined {
  if (!has(input, key)) return undefined;
  const value = input[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    at.fail(key, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function optKey(at: At, input: Fields, key: string): string | undefined {
  if (!has(input, key)) return undefined;
  const value = input[key];
  if (typeof value !== 'string' || (value !== '' && !KEYS.test(value))) {
    at.fail(key, "must be one key (0-9, *, #, A-D) or '' for none");
  }
  return value;
}

function optBool(at: At, input: Fields, key: string): boolean | undefined {
  if (!has(input, key)) return undefined;
  const value = input[key];
  if (typeof value !== 'boolean') at.fail(key, 'must be true or false');
  return value;
}

function hookUrl(at: At, input: Fields, key: string): string {
  const value = input[key];
  if (typeof value !== 'string' || value.length === 0 || value.length > HOOK_URL_MAX_CHARS) {
    at.fail(key, `must be an http(s) URL of at most ${HOOK_URL_MAX_CHARS} characters`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return at.fail(key, 'is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') at.fail(key, 'must be an http or https URL');
  if (url.username !== '' || url.password !== '') at.fail(key, 'must not carry a user name or password');
  return value;
}

function optHook(at: At, input: Fields, key: string): string | undefined {
  return has(input, key) ? hookUrl(at, input, key) : undefined;
}

/** Builds the output from the fields that are set, so `undefined` never appears as a present key. */
function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return Object.freeze(value);
}

function sayFields(at: At, input: Fields): Omit<SayVerb, 'verb'> {
  return {
    text: str(at, input, 'text', 4096),
    voice: optStr(at, input, 'voice', 64),
    loop: optInt(at, input, 'loop', 1, 100),
  };
}

function playFields(at: At, input: Fields): Omit<PlayVerb, 'verb'> {
  const url = has(input, 'url');
  if (url === has(input, 'recording')) at.fail('url', 'or recording must be given, and not both');
  return {
    url: url ? hookUrl(at, input, 'url') : undefined,
    recording: url ? undefined : str(at, input, 'recording', 128, ID),
    loop: optInt(at, input, 'loop', 1, 100),
  };
}

function prompt(at: At, input: Fields, key: 'say' | 'play'): Fields {
  const value = input[key];
  if (!isRecord(value)) return at.fail(key, `must be an object with the fields of a ${key} verb (without "verb")`);
  const known = key === 'say' ? ['text', 'voice', 'loop'] : ['url', 'recording', 'loop'];
  onlyKnown(at.in(key), value, known);
  return value;
}

function gather(at: At, input: Fields, budget: Budget): Verb {
  onlyKnown(at, input, ['verb', 'input', 'numDigits', 'finishOnKey', 'timeout', 'interDigitTimeout', 'say', 'play', 'onDigits', 'actionHook']);
  if (has(input, 'input')) {
    const value = input['input'];
    if (!Array.isArray(value) || value.length !== 1 || value[0] !== 'digits') at.fail('input', 'must be ["digits"]');
  }
  if (has(input, 'say') && has(input, 'play')) at.fail('play', 'cannot be given with say: one prompt at most');
  const numDigits = optInt(at, input, 'numDigits', 1, GATHER_MAX_DIGITS);
  const finishOnKey = optKey(at, input, 'finishOnKey');
  return compact({
    verb: 'gather' as const,
    input: has(input, 'input') ? (['digits'] as ['digits']) : undefined,
    numDigits,
    finishOnKey,
    timeout: optInt(at, input, 'timeout', 1, 600),
    interDigitTimeout: optInt(at, input, 'interDigitTimeout', 1, 600),
    say: has(input, 'say') ? compact(sayFields(at.in('say'), prompt(at, input, 'say'))) : undefined,
    play: has(input, 'play') ? compact(playFields(at.in('play'), prompt(at, input, 'play'))) : undefined,
    onDigits: has(input, 'onDigits')
      ? onDigits(at, input['onDigits'], { numDigits, finishOnKey: finishOnKey ?? DEFAULT_FINISH_ON_KEY }, budget)
      : undefined,
    actionHook: optHook(at, input, 'actionHook'),
  });
}

/**
 * gather's branches: each key sequence names the program that runs when exactly those keys were collected. A
 * sequence that can never be collected (longer than numDigits, or holding the finish key, which is never part of the
 * digits) is refused rather than silently never taken.
 */
function onDigits(
  at: At,
  value: unknown,
  collect: { readonly numDigits: number | undefined; readonly finishOnKey: string },
  budget: Budget,
): Readonly<Record<string, Program>> {
  if (!isRecord(value) || Object.keys(value).length === 0) {
    return at.fail('onDigits', 'must be an object mapping keys (such as "1" or "42#") to programs, with at least one entry');
  }
  const branches: Record<string, Program> = {};
  for (const [keys, program] of Object.entries(value)) {
    const field = `onDigits.${keys}`;
    if (!KEY_SEQUENCE.test(keys)) at.fail(field, `must be named by 1 to ${GATHER_MAX_DIGITS} keys (0-9, *, #, A-D)`);
    if (collect.numDigits !== undefined && keys.length > collect.numDigits) {
      at.fail(field, `can never be collected: it has more keys than numDigits (${collect.numDigits})`);
    }
    if (collect.finishOnKey !== '' && keys.includes(collect.finishOnKey)) {
      at.fail(field, `can never be collected: it holds finishOnKey "${collect.finishOnKey}", which ends collection (set finishOnKey to '' or another key)`);
    }
    if (!Array.isArray(program) || program.length === 0) at.fail(field, 'must be a program: an array of at least one verb');
    branches[keys] = Object.freeze(Array.from(program, (item, i) => verb(item, () => at.at(field, i), budget))) as Program;
  }
  return Object.freeze(branches);
}

function dialTarget(at: At, input: unknown): DialTarget {
  if (!isRecord(input)) return at.fail('type', "must be given: a target is an object of type 'phone', 'extension' or 'sip'");
  switch (input['type']) {
    case 'phone':
      onlyKnown(at, input, ['type', 'number']);
      return Object.freeze({ type: 'phone', number: str(at, input, 'number', 32, PHONE) });
    case 'extension':
      onlyKnown(at, input, ['type', 'extension']);
      return Object.freeze({ type: 'extension', extension: str(at, input, 'extension', 64, ID) });
    case 'sip':
      onlyKnown(at, input, ['type', 'sipUri']);
      return Object.freeze({ type: 'sip', sipUri: str(at, input, 'sipUri', 256, SIP_URI) });
    default:
      return at.fail('type', "must be 'phone', 'extension' or 'sip'");
  }
}

function dial(at: At, input: Fields): Verb {
  onlyKnown(at, input, ['verb', 'target', 'callerId', 'timeout', 'timeLimit', 'actionHook']);
  const targets = input['target'];
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > DIAL_MAX_TARGETS) {
    at.fail('target', `must be an array of 1 to ${DIAL_MAX_TARGETS} targets`);
  }
  return compact({
    verb: 'dial' as const,
    target: Object.freeze(Array.from(targets, (target, i) => dialTarget(at.at('target', i), target))) as DialTarget[],
    callerId: optStr(at, input, 'callerId', 32, PHONE),
    timeout: optInt(at, input, 'timeout', 1, 600),
    timeLimit: optInt(at, input, 'timeLimit', 1, 86_400),
    actionHook: optHook(at, input, 'actionHook'),
  });
}

function verb(input: unknown, place: Place, budget: Budget): Verb {
  if (!isRecord(input)) return place(undefined).fail('verb', 'must be given: each verb is an object with a "verb" field');
  const name = input['verb'];
  const at: At = place(typeof name === 'string' ? name : undefined);
  budget.take(at);
  switch (name) {
    case 'say':
      onlyKnown(at, input, ['verb', 'text', 'voice', 'loop']);
      return compact({ verb: 'say', ...sayFields(at, input) });
    case 'play':
      onlyKnown(at, input, ['verb', 'url', 'recording', 'loop']);
      return compact({ verb: 'play', ...playFields(at, input) });
    case 'pause': {
      onlyKnown(at, input, ['verb', 'length']);
      const length = input['length'];
      if (typeof length !== 'number' || !Number.isFinite(length) || length <= 0 || length > 3600) {
        at.fail('length', 'must be a number of seconds greater than 0 and at most 3600');
      }
      return Object.freeze({ verb: 'pause', length });
    }
    case 'gather':
      return gather(at, input, budget);
    case 'dial':
      return dial(at, input);
    case 'record':
      onlyKnown(at, input, ['verb', 'maxLength', 'finishOnKey', 'beep', 'actionHook']);
      return compact({
        verb: 'record' as const,
        maxLength: optInt(at, input, 'maxLength', 1, 14_400),
        finishOnKey: optKey(at, input, 'finishOnKey'),
        beep: optBool(at, input, 'beep'),
        actionHook: optHook(at, input, 'actionHook'),
      });
    case 'hangup':
      onlyKnown(at, input, ['verb']);
      return Object.freeze({ verb: 'hangup' });
    case 'redirect':
      onlyKnown(at, input, ['verb', 'actionHook']);
      return Object.freeze({ verb: 'redirect', actionHook: hookUrl(at, input, 'actionHook') });
    case 'transfer': {
      onlyKnown(at, input, ['verb', 'to', 'actionHook']);
      const to = str(at, input, 'to', 256);
      if (!(PHONE.test(to) && to.length <= 32) && !SIP_URI.test(to)) at.fail('to', 'must be a phone number or a sip:user@host[:port][;transport=udp|tcp|tls] (or sips:) URI');
      return compact({ verb: 'transfer' as const, to, actionHook: optHook(at, input, 'actionHook') });
    }
    default:
      return at.fail('verb', 'must be one of say, play, pause, gather, dial, record, hangup, redirect, transfer');
  }
}

/**
 * Checks a program whole and returns a frozen copy holding only the fields that were set; the input is never
 * written to. Throws `invalid_program` naming the first faulty verb's index (from 0) and field.
 */
export function validateProgram(input: unknown): Program {
  if (!Array.isArray(input) || input.length === 0 || input.length > PROGRAM_MAX_VERBS) {
    throw new DialplaneError(
      'invalid_program',
      `a program must be an array of 1 to ${PROGRAM_MAX_VERBS} verbs`,
      { index: null, field: null },
    );
  }
  const budget = new Budget();
  return Object.freeze(Array.from(input, (item, index) => verb(item, (name) => new At(index, name), budget))) as Program;
}
