import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { describeWithPeer, killGroup, trackPeerProcess, type SystemPeer } from './peers.js';
import { freeUdpPortBlock } from './sipp.js';

/**
 * linphonec (Debian's linphone-cli), a softphone independent of SIPp and baresip, driven through its stdin: it
 * registers with `register <identity> <proxy> <password>` and, started with -a, answers every call itself. It opens a
 * SIP port only when ~/.local/share/linphone exists, so each run gets a HOME of its own with that folder.
 */
export const LINPHONEC_BIN = process.env.DIALPLANE_TEST_LINPHONEC ?? 'linphonec';
const INSTALL_HINT = 'install the Debian package linphone-cli (apt-get install linphone-cli)';
const OUTPUT_LIMIT = 256 * 1024;

let problemOnce: Promise<string | undefined> | undefined;

function linphoneProblem(): Promise<string | undefined> {
  problemOnce ??= new Promise((resolve) => {
    execFile(LINPHONEC_BIN, ['--version'], { timeout: 5000 }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') resolve(`${LINPHONEC_BIN} not found`);
      else if (!/linphonec?\s|version|\d+\.\d+/i.test(`${stdout}${stderr}`)) resolve(`${LINPHONEC_BIN} --version printed no version`);
      else resolve(undefined);
    });
  });
  return problemOnce;
}

const peer: SystemPeer = { label: 'linphonec', hint: INSTALL_HINT, problem: linphoneProblem };

/** A suite that needs linphonec: skipped with a message when absent, a failure under CI=true. */
export const describeWithLinphone = (name: string, suite: () => void): Promise<void> => describeWithPeer(peer, name, suite);

export interface LinphoneHandle {
  /** Its SIP port (UDP) on 127.0.0.1. */
  readonly port: number;
  /** Types a line into linphonec. */
  send(line: string): void;
  /** Resolves once its output matches `pattern`; rejects after timeoutMs with the output. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `linphonec -a` with a SIP port of its own on 127.0.0.1. */
export async function startLinphone(options: { readonly t?: Pick<TestContext, 'after'> } = {}): Promise<LinphoneHandle> {
  const base = await freeUdpPortBlock(8);
  const home = await mkdtemp(join(tmpdir(), 'dialplane-linphone-'));
  await mkdir(join(home, '.local', 'share', 'linphone'), { recursive: true });
  const rc = join(home, 'linphonerc');
  await writeFile(
    rc,
    [
      '[sip]',
      `sip_port=${base}`,
      'sip_tcp_port=0',
      'bind_address=127.0.0.1',
      'guess_hostname=1',
      'register_only_when_network_is_up=0',
      '[net]',
      'nat_policy_ref=',
      '[rtp]',
      `audio_rtp_port=${base + 2}`,
      '[sound]',
      'echocancellation=0',
      '',
    ].join('\n'),
  );
  const child = spawn(LINPHONEC_BIN, ['-a', '-c', rc], {
    cwd: home,
    detached: true,
    env: { ...process.env, HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const untrack = trackPeerProcess(child);
  let output = '';
  const waiters = new Set<() => void>();
  const append = (chunk: string): void => {
    output = (output + chunk).slice(-OUTPUT_LIMIT);
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stopping: Promise<void> | undefined;
  const handle: LinphoneHandle = {
    port: base,
    send(line) {
      child.stdin?.write(`${line}\n`);
    },
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`linphonec did not print ${pattern} within ${timeoutMs} ms; output:\n${output.slice(-4000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    output: () => output,
    stop() {
      stopping ??= (async () => {
        child.stdin?.write('quit\n');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
        untrack();
        await rm(home, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  options.t?.after(() => handle.stop());
  return handle;
}
