import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeViolation, type SchemaViolation } from '../../../src/api/validation-message.js';

const v = (keyword: string, instancePath: string, params: Record<string, unknown>): SchemaViolation => ({ keyword, instancePath, params });

test('issue 21: a short secret is named as the request names it, with no validator path', () => {
  // What Ajv reports for Type.Union([Type.String({ minLength: 16 }), Type.Null()]) given "short".
  const errors = [
    v('minLength', '/webhook_secret', { limit: 16 }),
    v('type', '/webhook_secret', { type: 'null' }),
    v('anyOf', '/webhook_secret', {}),
  ];
  assert.deepEqual(describeViolation(errors, 'body'), { field: 'webhook_secret', message: 'webhook_secret must be at least 16 characters' });
});

test('required and unknown fields are named with their parent path', () => {
  assert.deepEqual(describeViolation([v('required', '', { missingProperty: 'to' })], 'body'), { field: 'to', message: 'to is required' });
  assert.deepEqual(describeViolation([v('required', '/phone', { missingProperty: 'number' })], 'body'), {
    field: 'phone.number',
    message: 'phone.number is required',
  });
  assert.equal(describeViolation([v('additionalProperties', '', { additionalProperty: 'admin' })], 'body').message, 'admin is not a field of this request');
});

test('a union of literals lists them; a union of types names them', () => {
  const literals = [v('const', '/type', { allowedValue: 'purchased' }), v('const', '/type', { allowedValue: 'ported' }), v('anyOf', '/type', {})];
  assert.equal(describeViolation(literals, 'body').message, 'type must be one of purchased, ported');
  const types = [v('type', '/amount', { type: 'string' }), v('type', '/amount', { type: 'number' }), v('anyOf', '/amount', {})];
  assert.equal(describeViolation(types, 'body').message, 'amount must be a string or a number');
});

test('limits, formats, list items and the whole part of the request', () => {
  assert.equal(describeViolation([v('maximum', '/limit', { limit: 500, comparison: '<=' })], 'querystring').message, 'limit must be at most 500');
  assert.equal(describeViolation([v('format', '/expires_at', { format: 'date-time' })], 'body').message, 'expires_at must be an ISO-8601 date-time');
  assert.equal(describeViolation([v('pattern', '/caller_id_allow_list/0', { pattern: '^\\+' })], 'body').message, 'caller_id_allow_list.0 is not in the expected format');
  assert.deepEqual(describeViolation([v('type', '', { type: 'object' })], 'body'), { field: undefined, message: 'the body must be an object' });
  assert.equal(describeViolation([v('minLength', '/name', { limit: 1 })], 'body').message, 'name must not be empty');
});
