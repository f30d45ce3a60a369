import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The process's memory after full garbage collections. The test runner does not start Node with --expose-gc; the flag
 * set at run time makes `gc` available to contexts created afterwards, which is where it is taken from.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface MemoryFigures {
  readonly heapUsed: number;
  readonly rss: number;
}

export async function collectedMemory(): Promise<MemoryFigures> {
  // Several rounds with turns of the event loop between: finalizers and weak callbacks free more on the next one.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

export const mib = (bytes: number): string => (bytes / 1_048_576).toFixed(1);
