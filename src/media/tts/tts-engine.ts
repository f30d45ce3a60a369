/** 16-bit mono PCM, as prompts are played into calls. */
export interface Pcm {
  readonly sampleRate: number;
  readonly samples: Int16Array;
}

export interface SynthesisOptions {
  /** Engine-specific voice name; the engine's default when absent. */
  readonly voice?: string;
}

/** Text-to-speech engines plug in behind this: Flite (default, in-process WASI), espeak-ng, an HTTP service. */
export interface TtsEngine {
  readonly name: string;
  synthesize(text: string, options?: SynthesisOptions): Promise<Pcm>;
  close(): Promise<void>;
}

export class TtsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TtsError';
  }
}
