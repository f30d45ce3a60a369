import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DtmfDetectorError, DtmfToneDetector, dtmfFrequencies } from '../../../../src/media/dtmf/goertzel.js';
import {
  concat,
  feedInFrames,
  generateDtmf,
  mulberry32,
  silence,
  sineTone,
  speechLike,
  whiteNoise,
} from './dtmf-signals.js';

const DIGITS = '0123456789*#ABCD';

function detect(signal: Int16Array, detector = new DtmfToneDetector()): string {
  return detector.push(signal).join('');
}

describe('DtmfToneDetector', () => {
  test('frequency table', () => {
    assert.deepEqual(dtmfFrequencies('1'), { row: 697, col: 1209 });
    assert.deepEqual(dtmfFrequencies('#'), { row: 941, col: 1477 });
    assert.deepEqual(dtmfFrequencies('d'), { row: 941, col: 1633 });
    assert.equal(dtmfFrequencies('E'), undefined);
    assert.equal(dtmfFrequencies('11'), undefined);
  });

  test('each of the 16 digits held for 60 ms is detected exactly once', () => {
    for (const d of DIGITS) {
      for (const lead of [0, 3, 37, 51, 77, 101]) {
        const sig = concat(new Int16Array(lead), generateDtmf(d, 60, { amplitude: 6000 }), silence(100));
        assert.equal(detect(sig), d, `digit ${d} lead ${lead}`);
      }
    }
  });

  test('a long tone (1 s) reports once; quiet but valid levels are detected', () => {
    assert.equal(detect(generateDtmf('5', 1000, { amplitude: 8000 })), '5');
    assert.equal(detect(generateDtmf('9', 100, { amplitude: 1000 })), '9'); // about −30 dBFS per tone
    assert.equal(detect(generateDtmf('9', 100, { amplitude: 200 })), ''); // about −44 dBFS: below the floor
  });

  test('with white noise at 20 dB SNR every digit is still detected once', () => {
    for (const [i, d] of [...DIGITS].entries()) {
      const sig = concat(
        whiteNoise(50, 600, 100 + i),
        generateDtmf(d, 70, { amplitude: 6000, noise: { snrDb: 20, seed: i + 1 } }),
        whiteNoise(60, 600, 200 + i),
      );
      assert.equal(detect(sig), d, `digit ${d}`);
    }
  });

  test('twist within the Q.24 limits is accepted', () => {
    for (const twistDb of [-3, -1, 0, 3, 6, 7]) {
      for (const d of ['1', '5', '#', 'D']) {
        assert.equal(detect(generateDtmf(d, 80, { amplitude: 4000, twistDb })), d, `${d} twist ${twistDb}`);
      }
    }
  });

  test('twist beyond the limits is rejected', () => {
    for (const twistDb of [-6, -8, 10, 12]) {
      for (const d of ['1', '5', '#', 'D']) {
        assert.equal(detect(generateDtmf(d, 80, { amplitude: 3000, twistDb })), '', `${d} twist ${twistDb}`);
      }
    }
  });

  test('noise, speech-like signals and single tones give no digit', () => {
    for (let seed = 1; seed <= 20; seed++) {
      assert.equal(detect(whiteNoise(1000, 3000, seed)), '', `noise seed ${seed}`);
      assert.equal(detect(speechLike(1000, seed)), '', `speech seed ${seed}`);
    }
    for (const f of [697, 770, 852, 941, 1209, 1336, 1477, 1633, 1000, 440]) {
      assert.equal(detect(sineTone(f, 500, 8000)), '', `tone ${f}`);
    }
    // A dial-tone-like pair (350 + 440 Hz) is not DTMF either.
    const low = sineTone(350, 500, 5000);
    const high = sineTone(440, 500, 5000);
    assert.equal(detect(low.map((v, i) => v + high[i]!)), '');
    assert.equal(detect(silence(500)), '');
  });

  test('"1234#" with gaps is detected exactly', () => {
    const parts: Int16Array[] = [];
    for (const d of '1234#') parts.push(generateDtmf(d, 70, { amplitude: 5000 }), silence(50));
    assert.equal(detect(concat(...parts)), '1234#');
  });

  test('a 40 ms gap separates repeats; a single dropped block does not', () => {
    const tone = generateDtmf('7', 60, { amplitude: 5000 });
    for (const lead of [0, 20, 50, 90]) {
      assert.equal(detect(concat(new Int16Array(lead), tone, silence(40), tone, silence(40), tone, silence(40))), '777');
    }
    // 5 ms dropout inside a held digit (less than one block of silence) does not split it.
    const held = concat(generateDtmf('7', 100, { amplitude: 5000 }), silence(5), generateDtmf('7', 100, { amplitude: 5000 }));
    assert.equal(detect(held), '7');
  });

  test('digits split across arbitrary frame sizes (property)', () => {
    const sig = concat(
      ...[...'159#0D'].flatMap((d, i) => [silence(30 + 7 * i), generateDtmf(d, 60 + 5 * i, { amplitude: 5000 })]),
      silence(60),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        const det = new DtmfToneDetector();
        assert.equal(feedInFrames((f) => det.push(f), sig, sizes), '159#0D');
      }),
      { numRuns: 100 },
    );
    assert.equal(feedInFrames((f) => new DtmfToneDetector().push(f), silence(10), [1]), '');
  });

  test('random digit sequences with random phases, levels and gaps (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...DIGITS), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 0xffff }),
        (ds, seed) => {
          const rand = mulberry32(seed);
          const parts: Int16Array[] = [silence(Math.floor(rand() * 40))];
          for (const d of ds) {
            const amplitude = 1500 + rand() * 8000;
            parts.push(
              generateDtmf(d, 60 + rand() * 60, {
                amplitude,
                twistDb: -2 + rand() * 6,
                phases: [rand() * 2 * Math.PI, rand() * 2 * Math.PI],
                noise: { snrDb: 25, seed: Math.floor(rand() * 1e6) },
              }),
              silence(40 + rand() * 40),
            );
          }
          assert.equal(detect(concat(...parts)), ds.join(''));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('reset() forgets a held digit and partial block; bad options throw', () => {
    const det = new DtmfToneDetector();
    assert.equal(det.push(generateDtmf('3', 100, { amplitude: 5000 })).join(''), '3');
    assert.equal(det.held, '3');
    det.reset();
    assert.equal(det.held, null);
    assert.equal(det.push(generateDtmf('3', 100, { amplitude: 5000 })).join(''), '3');
    assert.throws(() => new DtmfToneDetector({ blockSize: 10 }), DtmfDetectorError);
    assert.throws(() => new DtmfToneDetector({ sampleRate: 100 }), DtmfDetectorError);
    assert.throws(() => new DtmfToneDetector({ minOnBlocks: 0 }), DtmfDetectorError);
    assert.throws(() => new DtmfToneDetector({ minOffBlocks: 1.5 }), DtmfDetectorError);
  });

  test('works with 205-sample blocks too (longer tones)', () => {
    const det = new DtmfToneDetector({ blockSize: 205 });
    const sig = concat(...[...'2580'].flatMap((d) => [generateDtmf(d, 100, { amplitude: 5000 }), silence(80)]));
    assert.equal(detect(sig, det), '2580');
  });
});
