import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedReads } from '../../../src/core/shared-reads.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('callers asking while a read runs share it, and its value is kept once', async () => {
  const reads = new SharedReads<string, number>();
  const pending = deferred<number>();
  let started = 0;
  const kept: number[] = [];
  const read = () => {
    started += 1;
    return pending.promise;
  };
  const answers = Promise.all([1, 2, 3].map(() => reads.get('k', read, (v) => kept.push(v))));
  pending.resolve(7);
  assert.deepEqual(await answers, [7, 7, 7]);
  assert.equal(started, 1);
  assert.deepEqual(kept, [7]);
  // Once ended, the next caller starts a read of its own.
  assert.equal(await reads.get('k', async () => 8, (v) => kept.push(v)), 8);
  assert.deepEqual(kept, [7, 8]);
});

test('a read let go of while it runs answers its callers but is not kept; the next caller reads again', async () => {
  for (const letGo of [(r: SharedReads<string, number>) => r.forget('k'), (r: SharedReads<string, number>) => r.clear()]) {
    const reads = new SharedReads<string, number>();
    const pending = deferred<number>();
    const kept: number[] = [];
    const first = reads.get('k', () => pending.promise, (v) => kept.push(v));
    letGo(reads);
    const second = reads.get('k', async () => 2, (v) => kept.push(v));
    pending.resolve(1);
    assert.equal(await first, 1);
    assert.equal(await second, 2);
    assert.deepEqual(kept, [2]);
  }
});

test('a failed read fails its callers and is not kept; the next caller reads again', async () => {
  const reads = new SharedReads<string, number>();
  const pending = deferred<number>();
  const kept: number[] = [];
  const both = [reads.get('k', () => pending.promise, (v) => kept.push(v)), reads.get('k', async () => 9, (v) => kept.push(v))];
  pending.reject(new Error('away'));
  for (const answer of both) await assert.rejects(answer, /away/);
  assert.equal(await reads.get('k', async () => 3, (v) => kept.push(v)), 3);
  assert.deepEqual(kept, [3]);
});
