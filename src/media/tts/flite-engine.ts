import { Worker } from 'node:worker_threads';
import { TtsError, type Pcm, type SynthesisOptions, type TtsEngine } from './tts-engine.js';

/** How long one synthesis may take before it is abandoned (a sentence takes ~60 ms). */
export const FLITE_TIMEOUT_MS = 10_000;
/** Flite is given text up to this length; longer prompts are refused rather than blocking the worker. */
export const FLITE_MAX_TEXT = 4_000;

interface Waiting {
  readonly resolve: (pcm: Pcm) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The default engine: Flite in WASI, in one worker thread, 8 kHz output, no network. */
export class FliteEngine implements TtsEngine {
  readonly name = 'flite';
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  synthesize(text: string, options: SynthesisOptions = {}): Promise<Pcm> {
    const clean = text.replace(/[\u0000-\u001f]/g, ' ').trim();
    if (!clean) return Promise.reject(new TtsError('nothing to say'));
    if (clean.length > FLITE_MAX_TEXT) return Promise.reject(new TtsError(`text longer than ${FLITE_MAX_TEXT} characters`));
    if (options.voice !== undefined && !/^[a-z0-9_]{1,32}$/i.test(options.voice)) {
      return Promise.reject(new TtsError(`unknown voice ${JSON.stringify(options.voice)}`));
    }
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<Pcm>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new TtsError('speech synthesis timed out'));
      }, FLITE_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer });
      worker.postMessage({ id, text: clean, voice: options.voice });
    });
  }

  async close(): Promise<void> {
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new TtsError('speech engine closed'));
      this.waiting.delete(id);
    }
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./flite-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (reply: { id: number; sampleRate?: number; samples?: Int16Array; error?: string }) => {
      const waiting = this.waiting.get(reply.id);
      if (!waiting) return;
      this.waiting.delete(reply.id);
      clearTimeout(waiting.timer);
      if (reply.error !== undefined || !reply.samples || !reply.sampleRate) waiting.reject(new TtsError(reply.error ?? 'no audio'));
      else waiting.resolve({ sampleRate: reply.sampleRate, samples: reply.samples });
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      this.fail(new Error('speech worker exited'));
    });
    this.worker = worker;
    return worker;
  }

  /** A crashed worker fails what it was doing; the next request starts a new one. */
  private fail(error: Error): void {
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new TtsError(`speech worker failed: ${error.message}`));
      this.waiting.delete(id);
    }
  }
}
