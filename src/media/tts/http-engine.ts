import { TtsError, type Pcm, type SynthesisOptions, type TtsEngine } from './tts-engine.js';
import { parseWav } from './wav.js';

export interface HttpTtsOptions {
  /** POSTed `{"text": "...", "voice": "..."}`; must answer a 16-bit mono PCM WAV (8 kHz, or resampled by us). */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** A speech service reached over HTTP: for voices and languages Flite does not have. */
export class HttpTtsEngine implements TtsEngine {
  readonly name = 'http';

  constructor(private readonly options: HttpTtsOptions) {}

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<Pcm> {
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'audio/wav', ...this.options.headers },
        body: JSON.stringify({ text, ...(options.voice ? { voice: options.voice } : {}) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new TtsError(`speech service unreachable: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!response.ok) throw new TtsError(`speech service answered ${response.status}`);
    const pcm = parseWav(Buffer.from(await response.arrayBuffer()));
    return pcm.sampleRate === 8000 ? pcm : resampleTo8k(pcm);
  }

  async close(): Promise<void> {}
}

/** Linear-interpolation resampling to 8 kHz: telephone bandwidth needs nothing finer. */
export function resampleTo8k(pcm: Pcm): Pcm {
  const ratio = pcm.sampleRate / 8000;
  const length = Math.floor(pcm.samples.length / ratio);
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    const at = i * ratio;
    const left = Math.floor(at);
    const right = Math.min(left + 1, pcm.samples.length - 1);
    const weight = at - left;
    out[i] = Math.round(pcm.samples[left]! * (1 - weight) + pcm.samples[right]! * weight);
  }
  return { sampleRate: 8000, samples: out };
}
