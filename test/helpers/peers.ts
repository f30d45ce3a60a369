import type { ChildProcess } from 'node:child_process';
import { describe, type TestContext } from 'node:test';

/**
 * The rule for tests that need a system peer (SIPp, baresip, ...): skipped with a visible message when the peer is
 * absent on a plain `npm test`, and a failure under CI=true, where .ci/run has installed it.
 */
export interface SystemPeer {
  /** Shown in messages: "SIPp", "baresip". */
  readonly label: string;
  /** How to install it. */
  readonly hint: string;
  /** Undefined when the peer runs, else why not. */
  problem(): Promise<string | undefined>;
}

const required = process.env.CI === 'true';

export async function requirePeer(peer: SystemPeer, t: TestContext): Promise<boolean> {
  const problem = await peer.problem();
  if (problem === undefined) return true;
  if (required) throw new Error(`${peer.label} is required (CI=true) but unavailable: ${problem}; ${peer.hint}`);
  process.stderr.write(`[skip] ${t.name}: ${peer.label} unavailable (${problem})\n`);
  t.skip(`${peer.label} unavailable: ${problem}; ${peer.hint}`);
  return false;
}

/** Call at top level with await (ESM), like describeEachDialect. */
export async function describeWithPeer(
  peer: SystemPeer,
  name: string,
  suite: () => void,
  options: { readonly concurrency?: number | boolean; readonly timeout?: number } = {},
): Promise<void> {
  const problem = await peer.problem();
  if (problem === undefined) {
    describe(name, options, suite);
    return;
  }
  if (required) {
    describe(name, () => {
      throw new Error(`${peer.label} is required (CI=true) but unavailable: ${problem}; ${peer.hint}`);
    });
    return;
  }
  process.stderr.write(`[skip] ${name}: ${peer.label} unavailable (${problem})\n`);
  describe(name, { skip: `${peer.label} unavailable: ${problem}; ${peer.hint}` }, () => undefined);
}

/** Signals a peer's whole process group (peers run detached, behind `timeout` wrappers). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

const live = new Map<ChildProcess, () => void>();
let exitHookInstalled = false;

/**
 * Keeps a peer process on the list the exit hook kills (with its cleanup, e.g. removing its temporary directory),
 * so no peer outlives the test process; returns the call that takes it off once it has exited.
 */
export function trackPeerProcess(child: ChildProcess, cleanup: () => void = () => undefined): () => void {
  live.set(child, cleanup);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [process_, clean] of live) {
        killGroup(process_, 'SIGKILL');
        clean();
      }
    });
  }
  return () => live.delete(child);
}
