import { DialplaneError } from '../../errors.js';

/**
 * PLACEHOLDER until the verb program schema lands (design: one schema for every verb, unknown fields refused). It
 * checks only the outer shape: a non-empty array of objects, each named by a string `verb`.
 */
export type Program = readonly Record<string, unknown>[];

export function validateProgram(input: unknown): Program {
  if (!Array.isArray(input) || input.length === 0) {
    throw new DialplaneError('validation_failed', 'a program is a non-empty array of verbs', { field: 'program' });
  }
  input.forEach((verb: unknown, index) => {
    if (typeof verb !== 'object' || verb === null || Array.isArray(verb) || typeof (verb as { verb?: unknown }).verb !== 'string') {
      throw new DialplaneError('validation_failed', `verb ${index}: a verb is an object with a string "verb"`, { index, field: 'verb' });
    }
  });
  return input as Program;
}
