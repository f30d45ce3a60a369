import { TtsError, type Pcm, type SynthesisOptions, type TtsEngine } from './tts-engine.js';
import { resampleTo8k } from './http-engine.js';

/** The npm package of espeak-ng compiled to WebAssembly (GPL-3.0): installed by the operator, never bundled. */
export const ESPEAK_PACKAGE = '@echogarden/espeak-ng-emscripten';

interface EspeakModule {
  synthesize(text: string, voice: string): Promise<{ sampleRate: number; samples: Int16Array }>;
}

/**
 * espeak-ng for languages Flite lacks (Hebrew for the Israeli gateway, and about 140 more). Because of its licence it is
 * an optional engine: it loads the package only when used, and says how to install it when it is missing.
 */
export class EspeakEngine implements TtsEngine {
  readonly name = 'espeak-ng';
  private module: Promise<EspeakModule> | undefined;

  constructor(private readonly load: () => Promise<EspeakModule> = defaultLoader) {}

  async synthesize(text: string, options: SynthesisOptions = {}): Promise<Pcm> {
    this.module ??= this.load().catch((error: unknown) => {
      this.module = undefined;
      throw new TtsError(
        `espeak-ng is an optional engine: install it with \`npm install ${ESPEAK_PACKAGE}\` (${error instanceof Error ? error.message : String(error)})`,
      );
    });
    const engine = await this.module;
    const pcm = await engine.synthesize(text, options.voice ?? 'en');
    return pcm.sampleRate === 8000 ? pcm : resampleTo8k(pcm);
  }

  async close(): Promise<void> {}
}

async function defaultLoader(): Promise<EspeakModule> {
  // A variable specifier keeps the bundler-free build from requiring the package at compile time.
  const name = ESPEAK_PACKAGE;
  const loaded = (await import(name)) as { default?: EspeakModule } & Partial<EspeakModule>;
  const module = loaded.default ?? loaded;
  if (typeof module.synthesize !== 'function') throw new Error('the installed package has no synthesize()');
  return module as EspeakModule;
}
