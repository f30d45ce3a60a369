import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killGroup, trackPeerProcess, type SystemPeer } from '../../helpers/peers.js';
import { ROOT, within } from '../../helpers/processes.js';

/**
 * The SMSC of the crash test: net-smpp-smsc.pl, written with Net::SMPP (Debian libnet-smpp-perl), an SMPP
 * implementation independent of the npm `smpp` package Dialplane's carrier is built on.
 */
const SCRIPT = join(ROOT, 'test', 'reliability', 'crash-under-load', 'net-smpp-smsc.pl');

let problemOnce: Promise<string | undefined> | undefined;

export const netSmppPeer: SystemPeer = {
  label: 'Net::SMPP',
  hint: 'install the Debian package libnet-smpp-perl (apt-get install libnet-smpp-perl)',
  problem: () =>
    (problemOnce ??= new Promise((resolve) => {
      execFile('perl', ['-MNet::SMPP', '-e1'], { timeout: 5_000 }, (error, _stdout, stderr) =>
        resolve(error ? `perl -MNet::SMPP -e1: ${stderr.trim().split('\n')[0] ?? error.message}` : undefined),
      );
    })),
};

export interface SubmitSmLine {
  /** The SMSC's connection number (1 for the first bind, 2 after a reconnection or restart, ...). */
  readonly connection: number;
  readonly to: string;
  /** short_message in hex: the concatenation header and the text, unique per part of a message. */
  readonly shortMessage: string;
}

export interface NetSmppSmsc {
  /** smpp://… for DIALPLANE_SMSC. */
  readonly url: string;
  /** Every submit_sm the SMSC has received so far, in order. */
  submits(): Promise<SubmitSmLine[]>;
  stop(): Promise<void>;
}

/** Starts the SMSC on a free loopback port; it answers each submit_sm `delayMs` after it arrives. */
export async function startNetSmppSmsc(delayMs: number): Promise<NetSmppSmsc> {
  const dir = await mkdtemp(join(tmpdir(), 'dialplane-net-smpp-'));
  const log = join(dir, 'submit_sm.log');
  const child = spawn('perl', [SCRIPT, log, String(delayMs)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = trackPeerProcess(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8_000)));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const port = await within(
    new Promise<number>((resolve) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const match = /^listening (\d+)$/m.exec(out);
        if (match) resolve(Number(match[1]));
      });
      // 0: it exited before listening.
      void exited.then(() => resolve(0));
    }),
    10_000,
  );
  if (port === 'timeout' || port === 0) {
    killGroup(child, 'SIGKILL');
    untrack();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`net-smpp-smsc.pl did not listen within 10 s: ${stderr}`);
  }
  return {
    url: `smpp://dialplane:secret@127.0.0.1:${port}`,
    async submits() {
      let text = '';
      try {
        text = await readFile(log, 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter((line) => line.startsWith('submit '))
        .map((line) => {
          const [, connection, to, shortMessage] = line.split(' ');
          return { connection: Number(connection), to: to ?? '', shortMessage: shortMessage ?? '' };
        });
    },
    async stop() {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
      untrack();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
