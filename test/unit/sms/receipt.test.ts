import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  RECEIPT_TEXT_LENGTH,
  formatReceipt,
  formatReceiptDate,
  isFinalReceiptStatus,
  mapReceiptStat,
  messageStateToStat,
  parseReceipt,
  parseReceiptDate,
  readReceiptFields,
  statToMessageState,
  type DeliveryReceipt,
} from '../../../src/sms/receipt.js';

const TIME_BOUND = { numRuns: 300, interruptAfterTimeLimit: 5000 };
const utc = (y: number, mo: number, d: number, h: number, mi: number, s = 0): Date => new Date(Date.UTC(y, mo - 1, d, h, mi, s));

/** What every parse result must look like. */
function assertWellFormed(r: DeliveryReceipt): void {
  assert.equal(typeof r.id, 'string');
  assert.ok(r.id.length > 0 && !/\s/.test(r.id), `id ${JSON.stringify(r.id)}`);
  assert.ok(r.stat.length > 0 && !/\s/.test(r.stat) && r.stat === r.stat.toUpperCase(), `stat ${JSON.stringify(r.stat)}`);
  assert.equal(typeof r.err, 'string');
  assert.ok(!/\s/.test(r.err));
  for (const n of [r.submitted, r.delivered]) if (n !== undefined) assert.ok(Number.isInteger(n) && n >= 0);
  for (const d of [r.submitDate, r.doneDate]) if (d !== undefined) assert.ok(d instanceof Date && !Number.isNaN(d.getTime()));
  if (r.text !== undefined) assert.equal(r.text, r.text.trim());
  assert.ok(['delivered', 'undelivered', 'failed', 'sent'].includes(mapReceiptStat(r.stat)));
}

describe('parseReceipt: receipts as SMSCs send them', () => {
  test('the Appendix B layout', () => {
    const r = parseReceipt('id:0123456789 sub:001 dlvrd:001 submit date:0809011130 done date:0809011131 stat:DELIVRD err:000 text:Hello World');
    assert.deepEqual(r, {
      id: '0123456789',
      stat: 'DELIVRD',
      err: '000',
      submitted: 1,
      delivered: 1,
      submitDate: utc(2008, 9, 1, 11, 30),
      doneDate: utc(2008, 9, 1, 11, 31),
      text: 'Hello World',
    });
  });

  test('hex id, dlvrd:0, err:0, text cut at 20 characters (Kannel documentation example)', () => {
    const r = parseReceipt('id:c449ab9744f47b6af1879e49e75e4f40 sub:001 dlvrd:0 submit date:0610191018 done date:0610191018 stat:ACCEPTD err:0 text:This is an Acti');
    assert.equal(r?.id, 'c449ab9744f47b6af1879e49e75e4f40');
    assert.equal(r?.delivered, 0);
    assert.equal(r?.err, '0');
    assert.equal(r?.stat, 'ACCEPTD');
    assert.equal(r?.text, 'This is an Acti');
    assert.equal(mapReceiptStat(r?.stat ?? ''), 'sent');
  });

  test('capitalised Text key and an UNDELIV error code', () => {
    const r = parseReceipt('id:1234567890 sub:001 dlvrd:000 submit date:1801011200 done date:1801021200 stat:UNDELIV err:069 Text:Your code is 1234');
    assert.equal(r?.stat, 'UNDELIV');
    assert.equal(r?.err, '069');
    assert.equal(r?.text, 'Your code is 1234');
    assert.deepEqual(r?.doneDate, utc(2018, 1, 2, 12, 0));
  });

  test('12-digit dates with seconds, UUID id, empty text', () => {
    const r = parseReceipt('id:7b1a2e09-ff4e-4b1f-8a2b-000000000001 sub:001 dlvrd:001 submit date:210315142530 done date:210315142545 stat:DELIVRD err:000 text:');
    assert.equal(r?.id, '7b1a2e09-ff4e-4b1f-8a2b-000000000001');
    assert.deepEqual(r?.submitDate, utc(2021, 3, 15, 14, 25, 30));
    assert.deepEqual(r?.doneDate, utc(2021, 3, 15, 14, 25, 45));
    assert.equal(r?.text, '');
  });

  test('sub, dlvrd and text missing', () => {
    const r = parseReceipt('id:2817012 submit date:1907031015 done date:1907031016 stat:EXPIRED err:000');
    assert.deepEqual(r, { id: '2817012', stat: 'EXPIRED', err: '000', submitDate: utc(2019, 7, 3, 10, 15), doneDate: utc(2019, 7, 3, 10, 16) });
    assert.equal(mapReceiptStat('EXPIRED'), 'undelivered');
  });

  test('upper-case keys, lower-case stat, extra spaces, underscore in done_date, trailing NULs', () => {
    const r = parseReceipt('  ID: 44a1b0   SUB:001  DLVRD:001  SUBMIT  DATE:1602291200  DONE_DATE : 1602291201  STAT:delivrd  ERR:000  TEXT: hi there  \0\0');
    assert.deepEqual(r, {
      id: '44a1b0',
      stat: 'DELIVRD',
      err: '000',
      submitted: 1,
      delivered: 1,
      submitDate: utc(2016, 2, 29, 12, 0),
      doneDate: utc(2016, 2, 29, 12, 1),
      text: 'hi there',
    });
  });

  test('fields in another order; no err (empty string); four-digit years', () => {
    const r = parseReceipt('stat:REJECTD id:AB12 done date:20240101093000 submit date:20240101092959');
    assert.deepEqual(r, { id: 'AB12', stat: 'REJECTD', err: '', doneDate: utc(2024, 1, 1, 9, 30, 0), submitDate: utc(2024, 1, 1, 9, 29, 59) });
  });

  test('everything after text: is text, even what looks like a key', () => {
    const r = parseReceipt('id:55 sub:001 dlvrd:001 submit date:2402291200 done date:2402291200 stat:DELIVRD err:000 text:id:99 stat:UNDELIV');
    assert.equal(r?.id, '55');
    assert.equal(r?.stat, 'DELIVRD');
    assert.equal(r?.text, 'id:99 stat:UNDELIV');
  });

  test('impossible dates are left out, the rest is kept', () => {
    const r = parseReceipt('id:1 sub:001 dlvrd:001 submit date:2413011200 done date:2302291200 stat:DELIVRD err:000');
    assert.equal(r?.submitDate, undefined); // month 13
    assert.equal(r?.doneDate, undefined); // 29 February 2023
    assert.equal(r?.stat, 'DELIVRD');
  });

  test('not receipts: undefined', () => {
    assert.equal(parseReceipt('Hello, this is just a message'), undefined);
    assert.equal(parseReceipt(''), undefined);
    assert.equal(parseReceipt('stat:DELIVRD err:000'), undefined); // no id
    assert.equal(parseReceipt('id:12345 err:000'), undefined); // no stat
    assert.equal(parseReceipt('id: stat: err:'), undefined); // empty values
    assert.equal(parseReceipt('userid:5 status:ok'), undefined); // keys must start a word
  });

  test('readReceiptFields keeps partial information', () => {
    assert.deepEqual(readReceiptFields('stat:UNDELIV err:001'), { stat: 'UNDELIV', err: '001' });
    assert.deepEqual(readReceiptFields('id:xyz'), { id: 'xyz' });
  });
});

describe('stat mapping', () => {
  test('the Appendix B words', () => {
    assert.equal(mapReceiptStat('DELIVRD'), 'delivered');
    for (const s of ['UNDELIV', 'EXPIRED', 'DELETED']) assert.equal(mapReceiptStat(s), 'undelivered', s);
    for (const s of ['REJECTD', 'UNKNOWN']) assert.equal(mapReceiptStat(s), 'failed', s);
    for (const s of ['ENROUTE', 'ACCEPTD']) assert.equal(mapReceiptStat(s), 'sent', s);
  });

  test('case and long spellings; unlisted words are failed', () => {
    assert.equal(mapReceiptStat('delivrd'), 'delivered');
    assert.equal(mapReceiptStat('DELIVERED'), 'delivered');
    assert.equal(mapReceiptStat('UNDELIVERABLE'), 'undelivered');
    assert.equal(mapReceiptStat('REJECTED'), 'failed');
    assert.equal(mapReceiptStat('NOSUCHWORD'), 'failed');
    assert.equal(isFinalReceiptStatus('sent'), false);
    assert.equal(isFinalReceiptStatus('delivered'), true);
  });

  test('message_state values and stat words map both ways', () => {
    assert.equal(messageStateToStat(2), 'DELIVRD');
    assert.equal(messageStateToStat(5), 'UNDELIV');
    assert.equal(messageStateToStat(8), 'REJECTD');
    assert.equal(messageStateToStat(42), undefined);
    assert.equal(messageStateToStat(1.5), undefined);
    for (let state = 0; state <= 9; state++) assert.equal(statToMessageState(messageStateToStat(state) ?? ''), state);
    assert.equal(statToMessageState('nope'), undefined);
  });
});

describe('formatReceipt', () => {
  test('the Appendix B layout, text cut at 20 characters', () => {
    const text = formatReceipt({
      id: 'abc123',
      stat: 'DELIVRD',
      submitDate: utc(2025, 12, 31, 23, 59, 7),
      doneDate: utc(2026, 1, 1, 0, 0, 9),
      text: 'The quick brown fox jumps over the lazy dog',
    });
    assert.equal(
      text,
      'id:abc123 sub:001 dlvrd:001 submit date:2512312359 done date:2601010000 stat:DELIVRD err:000 text:The quick brown fox ',
    );
    assert.equal(RECEIPT_TEXT_LENGTH, 20);
  });

  test('seconds, numeric err, dlvrd 0 for undelivered', () => {
    const text = formatReceipt({ id: '9', stat: 'undeliv', err: 1, seconds: true, submitDate: utc(2024, 2, 29, 1, 2, 3), doneDate: utc(2024, 2, 29, 1, 2, 4) });
    assert.equal(text, 'id:9 sub:001 dlvrd:000 submit date:240229010203 done date:240229010204 stat:UNDELIV err:001 text:');
  });

  test('refuses values the parser could not read back', () => {
    const d = new Date(0);
    assert.throws(() => formatReceipt({ id: 'a b', stat: 'DELIVRD', submitDate: d, doneDate: d }), RangeError);
    assert.throws(() => formatReceipt({ id: '', stat: 'DELIVRD', submitDate: d, doneDate: d }), RangeError);
    assert.throws(() => formatReceipt({ id: 'x', stat: 'DEL IVRD', submitDate: d, doneDate: d }), RangeError);
    assert.throws(() => formatReceipt({ id: 'x', stat: 'DELIVRD', err: -1, submitDate: d, doneDate: d }), RangeError);
  });

  test('date helpers', () => {
    assert.equal(formatReceiptDate(utc(2030, 6, 5, 4, 3, 2)), '3006050403');
    assert.equal(formatReceiptDate(utc(2030, 6, 5, 4, 3, 2), true), '300605040302');
    assert.deepEqual(parseReceiptDate('300605040302'), utc(2030, 6, 5, 4, 3, 2));
    assert.equal(parseReceiptDate('30060504030'), undefined);
    assert.equal(parseReceiptDate('3006052403'), undefined); // hour 24
    assert.equal(parseReceiptDate('30O6050403'), undefined);
  });
});

describe('round trips and fuzzing (fast-check)', () => {
  const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
  const stat = fc.constantFrom('DELIVRD', 'EXPIRED', 'DELETED', 'UNDELIV', 'ACCEPTD', 'UNKNOWN', 'REJECTD', 'ENROUTE');
  // Whole seconds within the years a two-digit receipt date can name.
  const date = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 31, 23, 59, 59) }).map((ms) => new Date(Math.floor(ms / 1000) * 1000));
  const text = fc.string({ maxLength: 40 });

  test('parseReceipt(formatReceipt(x)) gives x back (dates to the minute, or second with `seconds`)', () => {
    fc.assert(
      fc.property(id, stat, fc.integer({ min: 0, max: 999 }), date, date, text, fc.boolean(), (id, stat, err, submitDate, doneDate, text, seconds) => {
        const formatted = formatReceipt({ id, stat, err, submitDate, doneDate, text, seconds });
        const r = parseReceipt(formatted);
        assert.ok(r, formatted);
        assertWellFormed(r);
        const trunc = (d: Date): number => (seconds ? d.getTime() : d.getTime() - (d.getTime() % 60_000));
        assert.equal(r.id, id);
        assert.equal(r.stat, stat);
        assert.equal(r.err, String(err).padStart(3, '0'));
        assert.equal(r.submitted, 1);
        assert.equal(r.delivered, stat === 'DELIVRD' ? 1 : 0);
        assert.equal(r.submitDate?.getTime(), trunc(submitDate));
        assert.equal(r.doneDate?.getTime(), trunc(doneDate));
        assert.equal(r.text, Array.from(text).slice(0, RECEIPT_TEXT_LENGTH).join('').trim());
      }),
      TIME_BOUND,
    );
  });

  test('arbitrary strings: never throws; undefined or well-formed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (input) => {
        const r = parseReceipt(input);
        if (r !== undefined) assertWellFormed(r);
      }),
      TIME_BOUND,
    );
  });

  test('receipt-like strings (keys, separators and junk shuffled together): never throws; undefined or well-formed', () => {
    const piece = fc.oneof(
      fc.constantFrom('id:', 'ID :', 'sub:', 'dlvrd:', 'submit date:', 'submit_date:', 'done date:', 'DONE  DATE:', 'stat:', 'err:', 'text:', 'Text:'),
      fc.constantFrom(' ', '  ', '\t', '\n', '\0', ':'),
      fc.stringMatching(/^[0-9]{1,14}$/),
      stat,
      fc.string({ unit: 'binary', maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const r = parseReceipt(pieces.join(''));
        if (r !== undefined) assertWellFormed(r);
      }),
      TIME_BOUND,
    );
  });
});
