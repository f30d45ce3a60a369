import type { Pcm, SynthesisOptions, TtsEngine } from './tts-engine.js';

/** Bytes of PCM kept in memory for repeated prompts. */
export const DEFAULT_PROMPT_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Prompts cached by engine, voice and text: an appointment reminder says the same sentence thousands of times.
 * Least recently used prompts go first once the byte budget is spent; concurrent requests for one prompt share a
 * single synthesis.
 */
export class CachedTts implements TtsEngine {
  readonly name: string;
  private readonly entries = new Map<string, Pcm>();
  private readonly inflight = new Map<string, Promise<Pcm>>();
  private used = 0;

  constructor(
    private readonly engine: TtsEngine,
    private readonly maxBytes = DEFAULT_PROMPT_CACHE_BYTES,
  ) {
    this.name = engine.name;
  }

  get size(): number {
    return this.entries.size;
  }

  /** PCM bytes held. */
  get bytes(): number {
    return this.used;
  }

  synthesize(text: string, options: SynthesisOptions = {}): Promise<Pcm> {
    const key = `${options.voice ?? ''}\u0000${text}`;
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return Promise.resolve(hit);
    }
    const running = this.inflight.get(key);
    if (running) return running;
    const started = this.engine.synthesize(text, options).then(
      (pcm) => {
        this.inflight.delete(key);
        this.store(key, pcm);
        return pcm;
      },
      (error: unknown) => {
        this.inflight.delete(key);
        throw error;
      },
    );
    this.inflight.set(key, started);
    return started;
  }

  close(): Promise<void> {
    this.entries.clear();
    this.used = 0;
    return this.engine.close();
  }

  private store(key: string, pcm: Pcm): void {
    const size = pcm.samples.byteLength;
    if (size > this.maxBytes) return;
    this.entries.set(key, pcm);
    this.used += size;
    for (const [oldest, value] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.used -= value.samples.byteLength;
    }
  }
}
