import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { TestContext } from 'node:test';
import { ROOT, freePort } from './processes.js';
import { describeWithPeer, killGroup, requirePeer, trackPeerProcess, type SystemPeer } from './peers.js';

/**
 * SIPp (Debian package sip-tester, binary `sipp`) as the independent carrier in Dialplane's SIP tests.
 *
 * Every run is a child process under coreutils `timeout` (SIPp's own -timeout does not end a run whose calls are
 * stuck), in its own process group, on 127.0.0.1 only, bounded in calls (-m) and time. Its statistics (-trace_stat),
 * message log (-trace_msg) and error log (-trace_err) go to a temporary directory that is read into the result and
 * removed when the run ends. Runs still alive when the test ends (cleanup registered on the test context) or when
 * the process exits are killed. Scenarios and their keys: test/sipp/README.md.
 */

/** The sipp binary: DIALPLANE_TEST_SIPP, else `sipp` on PATH. */
export const SIPP_BIN = process.env.DIALPLANE_TEST_SIPP ?? 'sipp';


/** test/sipp/ in the source tree (the XML scenarios are not compiled, so the same path from src or dist). */
export const SIPP_SCENARIO_DIR = join(ROOT, 'test', 'sipp');

// ---------------------------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------------------------

let sippProblemOnce: Promise<string | undefined> | undefined;

/** Undefined when `sipp` runs, else why not. Checked once per test process. */
function sippProblem(): Promise<string | undefined> {
  sippProblemOnce ??= new Promise((resolve) => {
    // `sipp -v` prints its version and exits 99.
    execFile(SIPP_BIN, ['-v'], { timeout: 5000 }, (error, stdout, stderr) => {
      const text = `${stdout}${stderr}`;
      if (/SIPp v\d/.test(text)) resolve(undefined);
      else resolve(error ? `${SIPP_BIN}: ${error.message}` : `${SIPP_BIN} -v printed no SIPp version`);
    });
  });
  return sippProblemOnce;
}

/** Whether the sipp binary is installed and runs. */
export async function sippAvailable(): Promise<boolean> {
  return (await sippProblem()) === undefined;
}

const INSTALL_HINT = 'install the Debian package sip-tester (apt-get install sip-tester)';


const peer: SystemPeer = { label: 'SIPp', hint: INSTALL_HINT, problem: sippProblem };

/** For one test: true when it can run; else skipped with a visible message, or a failure when CI=true. */
export const requireSipp = (t: TestContext): Promise<boolean> => requirePeer(peer, t);

/** A suite that needs SIPp, by the same rule. Call at top level with await (ESM). */
export const describeWithSipp = (
  name: string,
  suite: () => void,
  options: { readonly concurrency?: number | boolean; readonly timeout?: number } = {},
): Promise<void> => describeWithPeer(peer, name, suite, options);

// ---------------------------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------------------------

/** A UDP port free on 127.0.0.1 right now (the OS picks it; it is released before returning). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; it is released before returning). */
export const freeTcpPort = freePort;

function portFree(port: number, kind: 'udp' | 'tcp', host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    if (kind === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', () => {
        socket.close();
        resolve(false);
      });
      socket.bind(port, host, () => socket.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

let ephemeral: readonly [number, number] | undefined;

/** The kernel's ephemeral port range (ports the OS hands out for bind(0) and outgoing connections). */
function ephemeralRange(): readonly [number, number] {
  if (!ephemeral) {
    ephemeral = [32768, 60999];
    try {
      const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
      if (low && high && low < high) ephemeral = [low, high];
    } catch {
      // not Linux: keep the usual default
    }
  }
  return ephemeral;
}

/** Ports this process handed out for runs still alive, so concurrent tests in one file never share them. */
const reservedPorts = new Set<number>();

/**
 * A block of `size` consecutive ports (the first a multiple of `size`) free on 127.0.0.1 for the given kinds, taken
 * below the kernel's ephemeral range (so no bind(0) socket of another test can take one of them meanwhile) and not
 * handed out by this process already. `kinds[i]` says how port base+i must be free; missing entries: UDP.
 */
async function freePortBlock(size: number, kinds: readonly ('udp' | 'tcp' | 'udp-any')[] = []): Promise<number> {
  const [ephemeralLow, ephemeralHigh] = ephemeralRange();
  const ranges: [number, number][] = [];
  if (ephemeralLow - 20_000 >= 1000) ranges.push([20_000, ephemeralLow]);
  if (65_535 - ephemeralHigh >= 1000) ranges.push([ephemeralHigh + 1, 65_536]);
  if (ranges.length === 0) ranges.push([1024, 65_536]);
  for (let attempt = 0; attempt < 300; attempt++) {
    const [low, high] = ranges[attempt % ranges.length] ?? [20_000, 32_768];
    const slots = Math.floor((high - low) / size) - 1;
    const base = (Math.ceil(low / size) + Math.floor(Math.random() * slots)) * size;
    let free = true;
    for (let i = 0; i < size && free; i++) {
      const port = base + i;
      if (reservedPorts.has(port)) free = false;
      else {
        const kind = kinds[i] ?? 'udp';
        free = kind === 'udp-any' ? await portFree(port, 'udp', '0.0.0.0') : await portFree(port, kind);
      }
    }
    if (free) return base;
  }
  throw new Error(`no block of ${size} free ports found on 127.0.0.1`);
}

/**
 * `count` consecutive UDP ports free on 127.0.0.1, the first one even (RTP convention), below the ephemeral range.
 * SIPp's media port (-mp) needs such a block: it binds the audio port and the port two above it (video), even
 * without -rtp_echo.
 */
export async function freeUdpPortBlock(count = 4): Promise<number> {
  return freePortBlock(count % 2 === 0 ? count : count + 1);
}

/** Whether something listens on host:port (TCP LISTEN or a bound UDP socket), read from /proc/net. IPv4 only. */
async function portBound(port: number, transport: SippTransport, host = '127.0.0.1'): Promise<boolean | undefined> {
  const file = transport === 'tcp' ? '/proc/net/tcp' : '/proc/net/udp';
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  // /proc/net writes the address as one little-endian 32-bit hex number: 127.0.0.1 is 0100007F.
  const hexHost = host
    .split('.')
    .reverse()
    .map((byte) => Number(byte).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (!local) continue;
    const [ip, p] = local.split(':');
    if (p !== hexPort) continue;
    if (ip !== hexHost && ip !== '00000000') continue;
    if (transport === 'tcp' && state !== '0A') continue;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Running SIPp
// ---------------------------------------------------------------------------------------------------------------

export type SippTransport = 'udp' | 'tcp';
export type SippRole = 'uas' | 'uac';

/**
 * Default -key values of the scenarios in test/sipp/ (SIPp refuses to load a scenario that uses a [key] it was not
 * given). Options.keys override them.
 */
export const SCENARIO_DEFAULT_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'uas-answer-remote-bye.xml': { ring_ms: '0', hold_ms: '1000' },
  'uas-answer-wait-bye.xml': { ring_ms: '0' },
  'uas-answer-bye-or-timeout.xml': { ring_ms: '0' },
  'uas-proxied-remote-bye.xml': { ring_ms: '0', hold_ms: '1000' },
  'uas-proxied-wait-bye.xml': { ring_ms: '0' },
  'uac-proxied-call-dialplane.xml': { caller: 'sipp' },
  'uac-proxied-call-bye-or-timeout.xml': { caller: 'sipp' },
  'uas-answer-play.xml': { ring_ms: '0' },
  'uas-answer-dtmf.xml': { dtmf_ms: '1500' },
  'uas-answer-media-port.xml': { ring_ms: '0', audio_port: '4000' },
  'uas-early-media.xml': { early_ms: '1000' },
  'uas-auth-401.xml': { user: 'dialplane', password: 'secret', realm: 'sipp.test' },
  'uas-auth-407.xml': { user: 'dialplane', password: 'secret', realm: 'sipp.test' },
  'uas-lost-final-response.xml': { retrans_ms: '500' },
  'uac-call-dialplane.xml': { caller: 'sipp', hold_ms: '1000', audio: 'off' },
  'uas-register.xml': { user: 'dialplane', password: 'secret', expires: '3600' },
  'uac-dtmf-dialplane.xml': { caller: 'sipp', hold_ms: '1500' },
  'uac-invite-forbidden.xml': { caller: 'stranger' },
  'uac-device-call.xml': { user: 'phone', hold_ms: '500' },
  'uac-cancel-early.xml': { caller: 'sipp' },
  'uac-record-route-dialplane.xml': { caller: 'sipp' },
  'uac-late-ack-dialplane.xml': { caller: 'sipp' },
  'uas-reinvite-hold.xml': { audio_port: '4000', hold_ms: '1500', held_ms: '1500' },
  'uac-reinvite-hold-dialplane.xml': { caller: 'sipp', audio_port: '4000', hold_ms: '1500', held_ms: '1500' },
  'uas-info-dtmf.xml': { digit: '5', info_ms: '500' },
  'uac-late-offer-dialplane.xml': { caller: 'sipp', audio_port: '4000', hold_ms: '3000' },
  'uas-session-timer.xml': { interval: '90' },
  'uas-session-timer-refuse.xml': { interval: '90', status: '481' },
  'uas-session-timer-peer-refresher.xml': { interval: '90', refresh_ms: '45000' },
  'uac-100rel-dialplane.xml': { caller: 'sipp', hold_ms: '1000' },
  'uac-options-420-dialplane.xml': { caller: 'sipp', hold_ms: '500' },
  'uas-update-hold.xml': { audio_port: '4000', hold_ms: '1500', held_ms: '1500' },
  'uas-422.xml': { min_se: '3600' },
  'uac-session-timer-dialplane.xml': { caller: 'sipp', interval: '90', refresh_ms: '45000' },
  'uac-reinvite-edge-dialplane.xml': { caller: 'sipp', interval: '90' },
  'uac-refer-dialplane.xml': { caller: 'sipp', target: '+14155550200', refer_ms: '1000', after_ms: '0' },
  'uas-refer-transfer.xml': { final: '200 OK' },
  'uas-refer-callee.xml': { refer_ms: '1000' },
  'selftest/uac-expect-final.xml': { expect: '486' },
  'selftest/uac-early-media.xml': { rtp_port: '4000' },
};

export interface SippOptions {
  /** A built-in scenario name (`uas`, `uac`, ...: -sn) or an XML file: a path relative to test/sipp/ or absolute. */
  readonly scenario: string;
  /** uac needs `remote`. Default: `uac` when the scenario name starts with "uac", else `uas`. */
  readonly role?: SippRole;
  /** Local SIP port (-p). Default: one of a block of free ports below the kernel's ephemeral range. */
  readonly port?: number;
  /** -t u1 (UDP, default) or -t t1 (TCP). */
  readonly transport?: SippTransport;
  /** host:port the UAC calls (the remote host argument). Optional for a UAS (it answers whoever sends). */
  readonly remote?: string;
  /** -m: stop after this many calls. Default 1. */
  readonly calls?: number;
  /** -r: calls per second (UAC). Default: SIPp's 10. */
  readonly rate?: number;
  /** -l: maximum simultaneous calls. */
  readonly limit?: number;
  /** SIPp's own -timeout, seconds (the run ends with code 97 when it fires). Default 20. */
  readonly timeoutSeconds?: number;
  /** coreutils `timeout` around sipp, seconds (SIGTERM, then SIGKILL 2 s later). Default timeoutSeconds + 5. */
  readonly outerTimeoutSeconds?: number;
  /** -key name value, over the scenario's defaults from SCENARIO_DEFAULT_KEYS. */
  readonly keys?: Readonly<Record<string, string | number>>;
  /** -set name value (global variables). */
  readonly globals?: Readonly<Record<string, string | number>>;
  /** -s: user part of the Request-URI ([service]). */
  readonly service?: string;
  /** -au / -ap: credentials the [authentication] keyword answers a 401/407 with. */
  readonly authUser?: string;
  readonly authPassword?: string;
  /** -mp: first of 4 UDP ports SIPp binds for media (audio at mp, video at mp + 2). Default: a free block. */
  readonly mediaPort?: number;
  /** -rtp_echo: echo RTP received on the media ports. */
  readonly rtpEcho?: boolean;
  /** A `pcap` link to /usr/share/sip-tester in sipp's working directory, for the built-in uac_pcap. */
  readonly pcapLink?: boolean;
  /** -trace_msg into the result's `messages`. Default true. */
  readonly traceMessages?: boolean;
  /** Further sipp arguments, appended last. */
  readonly args?: readonly string[];
  /** The test: its `after` hook stops the run if still alive. */
  readonly t?: Pick<TestContext, 'after'>;
  /**
   * -i / -mi: the loopback address SIPp binds SIP and media to. Default 127.0.0.1; 127.0.0.2 makes it another host
   * (all of 127.0.0.0/8 is local on Linux).
   */
  readonly bindAddress?: string;
}

/** From SIPp's -trace_stat CSV (the cumulative columns of its last line). */
export interface SippStats {
  /** Whether the statistics file existed (a run that failed to start, or was SIGKILLed, writes none). */
  readonly found: boolean;
  readonly created: number;
  readonly successful: number;
  readonly failed: number;
  readonly retransmissions: number;
  readonly outOfCallMessages: number;
  readonly deadCallMessages: number;
  /** Every column of the last line, by its header (e.g. `FailedTimeoutOnRecv(C)`). */
  readonly fields: Readonly<Record<string, string>>;
}

export interface SippResult {
  /**
   * SIPp's exit code: 0 all calls successful, 1 at least one failed, 97 stopped by its -timeout or an internal
   * command, 99 ended without processing calls, 255 (-1) fatal error, 254 (-2) could not bind a socket. From the
   * wrapper: 124 the outer timeout fired, 137 it had to SIGKILL. After stop() sipp exits 0 (SIGTERM) whatever
   * its calls did: see `stopped`; 128 + signal number if it had to be killed.
   */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  /** Whether stop() ended the run (sipp exits 0 on SIGTERM whatever its calls did: read `stats` then). */
  readonly stopped: boolean;
  readonly stats: SippStats;
  /** The -trace_msg log: every message sent and received, each after a "-----" separator line. */
  readonly messages: string;
  /** The -trace_err log (unexpected messages and errors), and sipp's stderr. */
  readonly errors: string;
  readonly stderr: string;
  /** The end of sipp's stdout (its final screens). */
  readonly stdout: string;
  /** The sipp command line, for failure messages. */
  readonly command: string;
}

export interface SippHandle {
  /** The local SIP port. */
  readonly port: number;
  /** The first media port (-mp). */
  readonly mediaPort: number;
  readonly transport: SippTransport;
  /** bindAddress:port (127.0.0.1:port by default), for the other side to call. */
  readonly address: string;
  /** Resolves once the run has ended and its files were read; never rejects. */
  readonly done: Promise<SippResult>;
  /** SIGTERM, then SIGKILL 2 s later, to the whole process group; resolves with `done`. Idempotent. */
  stop(): Promise<SippResult>;
}


function resolveScenario(scenario: string): { args: string[]; name: string } {
  if (!scenario.endsWith('.xml')) {
    if (!/^[a-z0-9_]+$/.test(scenario)) throw new Error(`not a built-in SIPp scenario name: ${scenario}`);
    return { args: ['-sn', scenario], name: scenario };
  }
  const path = isAbsolute(scenario) ? scenario : join(SIPP_SCENARIO_DIR, scenario);
  if (!existsSync(path)) throw new Error(`SIPp scenario not found: ${path}`);
  // The name SCENARIO_DEFAULT_KEYS knows it by: its path under test/sipp/, with forward slashes.
  const inside = relative(SIPP_SCENARIO_DIR, path);
  const name = inside.startsWith('..') || isAbsolute(inside) ? path : inside.split(sep).join('/');
  return { args: ['-sf', path], name };
}

function parseStats(csv: string | undefined): SippStats {
  const empty: SippStats = {
    found: false,
    created: 0,
    successful: 0,
    failed: 0,
    retransmissions: 0,
    outOfCallMessages: 0,
    deadCallMessages: 0,
    fields: {},
  };
  if (csv === undefined) return empty;
  const lines = csv.split(/\r?\n/).filter((line) => line.trim() !== '');
  const header = lines[0]?.split(';');
  const last = lines.length > 1 ? lines[lines.length - 1]?.split(';') : undefined;
  if (!header || !last) return { ...empty, found: true };
  const fields: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name !== '') fields[name] = last[i] ?? '';
  });
  const num = (name: string): number => {
    const value = Number(fields[name]);
    return Number.isFinite(value) ? value : 0;
  };
  return {
    found: true,
    created: num('TotalCallCreated'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    retransmissions: num('Retransmissions(C)'),
    outOfCallMessages: num('OutOfCallMsgs(C)'),
    deadCallMessages: num('DeadCallMsgs(C)'),
    fields,
  };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'latin1');
  } catch {
    return undefined;
  }
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGHUP: 1 };
const OUTPUT_LIMIT = 64 * 1024;

/**
 * Starts one sipp run and resolves once its SIP port is bound (so the other side can be started next). The run
 * ends by itself after `calls` calls, at SIPp's -timeout, at the outer timeout, or at stop().
 */
export async function startSipp(options: SippOptions): Promise<SippHandle> {
  if (!(await sippAvailable())) throw new Error(`SIPp unavailable: ${await sippProblem()}; use requireSipp(t) first`);
  const scenario = resolveScenario(options.scenario);
  const baseName = scenario.name.replace(/^.*\/(?=[^/]+$)/, '');
  const role: SippRole = options.role ?? (baseName.startsWith('uac') ? 'uac' : 'uas');
  if (role === 'uac' && !options.remote) throw new Error(`a uac run needs remote (host:port): ${options.scenario}`);
  const transport = options.transport ?? 'udp';
  // Ports chosen here can still be taken by another process before sipp binds them; sipp then exits 254 at
  // once, and the run is started again on other ports.
  const chosen = options.port === undefined && options.mediaPort === undefined;
  for (let attempt = 1; ; attempt++) {
    const launched = await launchSipp(options, scenario, transport);
    if (launched.ready || !chosen || attempt === 3) return launched.handle;
    const result = await launched.handle.done;
    if (result.code !== 254) return launched.handle;
  }
}

/** One sipp process on a port block: SIP (base), media (base + 2; video base + 4), control (base + 6). */
async function launchSipp(
  options: SippOptions,
  scenario: { args: string[]; name: string },
  transport: SippTransport,
): Promise<{ handle: SippHandle; ready: boolean }> {
  let base: number | undefined;
  if (options.port === undefined || options.mediaPort === undefined) {
    base = await freePortBlock(8, [transport, 'udp', 'udp', 'udp', 'udp', 'udp', 'udp-any', 'udp']);
    for (let i = 0; i < 8; i++) reservedPorts.add(base + i);
  }
  const release = (): void => {
    if (base !== undefined) for (let i = 0; i < 8; i++) reservedPorts.delete(base + i);
  };
  const host = options.bindAddress ?? '127.0.0.1';
  const port = options.port ?? (base as number);
  const mediaPort = options.mediaPort ?? (base as number) + 2;
  const controlPort = base === undefined ? undefined : base + 6;
  const timeoutSeconds = options.timeoutSeconds ?? 20;
  const outerTimeoutSeconds = options.outerTimeoutSeconds ?? timeoutSeconds + 5;
  const dir = await mkdtemp(join(tmpdir(), 'dialplane-sipp-'));
  const files = {
    stats: join(dir, 'stats.csv'),
    messages: join(dir, 'messages.log'),
    errors: join(dir, 'errors.log'),
  };

  const keys: Record<string, string> = {};
  const defaults = SCENARIO_DEFAULT_KEYS[scenario.name] ?? {};
  for (const [name, value] of Object.entries({ ...defaults, ...options.keys })) keys[name] = String(value);

  const args: string[] = [
    ...scenario.args,
    '-i', host,
    '-mi', host,
    '-p', String(port),
    '-mp', String(mediaPort),
    '-t', transport === 'tcp' ? 't1' : 'u1',
    '-m', String(options.calls ?? 1),
    '-timeout', `${timeoutSeconds}s`,
    '-nostdin',
    '-trace_stat', '-stf', files.stats,
    '-trace_err', '-error_file', files.errors,
  ];
  // Without -cp every sipp binds UDP 0.0.0.0:8888, or the next free port above it.
  if (controlPort !== undefined) args.push('-cp', String(controlPort));
  if (options.traceMessages ?? true) args.push('-trace_msg', '-message_file', files.messages);
  if (options.rate !== undefined) args.push('-r', String(options.rate));
  if (options.limit !== undefined) args.push('-l', String(options.limit));
  if (options.service !== undefined) args.push('-s', options.service);
  if (options.authUser !== undefined) args.push('-au', options.authUser);
  if (options.authPassword !== undefined) args.push('-ap', options.authPassword);
  if (options.rtpEcho) args.push('-rtp_echo');
  for (const [name, value] of Object.entries(keys)) args.push('-key', name, value);
  for (const [name, value] of Object.entries(options.globals ?? {})) args.push('-set', name, String(value));
  args.push(...(options.args ?? []));
  if (options.remote) args.push(options.remote);

  // Built-in uac_pcap plays pcap/*.pcap relative to its working directory: give it the Debian package's files there.
  if (options.pcapLink) symlinkSync('/usr/share/sip-tester', join(dir, 'pcap'));
  const wrapperArgs = ['-k', '2', `${outerTimeoutSeconds}s`, SIPP_BIN, ...args];
  const command = `timeout ${wrapperArgs.join(' ')}`;
  // detached: its own process group, so stop() and the exit hook reach sipp behind the timeout wrapper.
  const child = spawn('timeout', wrapperArgs, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = trackPeerProcess(child, () => rmSync(dir, { recursive: true, force: true }));

  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('latin1');
  child.stderr?.setEncoding('latin1');
  child.stdout?.on('data', (chunk: string) => {
    stdout = (stdout + chunk).slice(-OUTPUT_LIMIT);
  });
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-OUTPUT_LIMIT);
  });

  const exited = new Promise<{ code: number; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      stderr += `\nspawn failed: ${error.message}`;
      resolve({ code: 255, signal: null });
    });
    child.once('close', (code, signal) => {
      resolve({ code: code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0), signal });
    });
  });

  let stopRequested = false;
  const done: Promise<SippResult> = exited.then(async ({ code, signal }) => {
    untrack();
    release();
    const [csv, messages, errors] = await Promise.all([
      readOptional(files.stats),
      readOptional(files.messages),
      readOptional(files.errors),
    ]);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return {
      code,
      signal,
      stopped: stopRequested,
      stats: parseStats(csv),
      messages: messages ?? '',
      errors: `${errors ?? ''}${stderr}`,
      stderr,
      stdout,
      command,
    };
  });

  let stopping: Promise<SippResult> | undefined;
  const stop = (): Promise<SippResult> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) stopRequested = true;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 2000);
      const result = await done;
      clearTimeout(timer);
      return result;
    })();
    return stopping;
  };
  options.t?.after(async () => {
    await stop();
  });
  const handle: SippHandle = { port, mediaPort, transport, address: `${host}:${port}`, done, stop };

  // Ready once the SIP port and both media ports are bound. A run that ends first (bad scenario, port taken) is
  // returned as not ready; its `done` tells why.
  let ended = false;
  void done.then(() => {
    ended = true;
  });
  const deadline = Date.now() + 5000;
  for (;;) {
    if (ended) return { handle, ready: false };
    const bound = await Promise.all([
      portBound(port, transport, host),
      portBound(mediaPort, 'udp', host),
      portBound(mediaPort + 2, 'udp', host),
    ]);
    if (bound.includes(undefined)) {
      // No /proc/net: give sipp a moment instead.
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { handle, ready: !ended };
    }
    if (bound.every(Boolean)) return { handle, ready: true };
    if (Date.now() > deadline) {
      const result = await stop();
      throw new Error(`sipp did not bind its ports within 5 s\n${command}\n${result.errors}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A readable account of a run, for assertion messages. */
export function describeSippResult(result: SippResult): string {
  const failures = Object.entries(result.stats.fields)
    .filter(([name, value]) => name.startsWith('Failed') && name.endsWith('(C)') && value !== '0')
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  return [
    `exit ${result.code}${result.signal ? ` (${result.signal})` : ''}${result.stopped ? ' (stopped)' : ''}: ${result.stats.successful} successful, ${result.stats.failed} failed${failures ? ` [${failures}]` : ''}`,
    result.command,
    result.errors.trim() ? `errors:\n${result.errors.trim().slice(-4000)}` : '',
    result.messages ? `messages (end):\n${result.messages.slice(-4000)}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the message log
// ---------------------------------------------------------------------------------------------------------------

export interface SippLoggedMessage {
  /** `lost`: a send with lost="..." that SIPp dropped on purpose; it logs no content for those. */
  readonly direction: 'sent' | 'received' | 'lost';
  /** The SIP message as logged ('' for a lost one). */
  readonly text: string;
  /** Its first line, e.g. `INVITE sip:...` or `SIP/2.0 200 OK` ('' for a lost one). */
  readonly startLine: string;
}

/**
 * The messages of a -trace_msg log, in order. SIPp 3.6.1 writes each as a "-----... <time>" line, "UDP message
 * sent (N bytes):" or "UDP message received [N] bytes :", a blank line and the message; a deliberately lost send
 * only as "UDP message voluntary lost (while sending)." with no line end; an unexpected message a second time
 * under "Unexpected UDP message received:" (skipped here: it was logged as received already).
 */
export function parseSippMessages(log: string): SippLoggedMessage[] {
  const out: SippLoggedMessage[] = [];
  const normalised = log.replace(/((?:UDP|TCP|TLS|SCTP) message voluntary lost \(while sending\)\.?)/g, '\n$1\n');
  const blocks = normalised.split(/^-{20,}[^\n]*\n/m);
  for (const block of blocks) {
    const lostCount = (block.match(/^(?:UDP|TCP|TLS|SCTP) message voluntary lost/gm) ?? []).length;
    const match = /^(UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n\r?\n?/.exec(block);
    if (match) {
      const text = block
        .slice(match[0].length)
        .replace(/\n(?:UDP|TCP|TLS|SCTP) message voluntary lost[^\n]*\n?/g, '\n')
        .replace(/\s+$/, '');
      out.push({ direction: match[2] === 'sent' ? 'sent' : 'received', text, startLine: (text.split(/\r?\n/)[0] ?? '').trim() });
    }
    for (let i = 0; i < lostCount; i++) out.push({ direction: 'lost', text: '', startLine: '' });
  }
  return out;
}

/** A compact trace of a run, one line per message: "> INVITE sip:..." sent, "< SIP/2.0 200 OK" received, "x (lost)". */
export function sippFlow(result: Pick<SippResult, 'messages'>): string[] {
  return parseSippMessages(result.messages).map((m) =>
    m.direction === 'lost' ? 'x (lost)' : `${m.direction === 'sent' ? '>' : '<'} ${m.startLine}`,
  );
}

/** The value of a header (full name, case-insensitive) of a logged SIP message, if present. */
export function sipHeader(message: string, name: string): string | undefined {
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}[ \\t]*:[ \\t]*(.*)$`, 'im');
  return re.exec(message)?.[1]?.trim();
}

/**
 * Checks an RFC 2617 / RFC 7616 (MD5) digest credential, e.g. the Proxy-Authorization header SIPp's <verifyauth>
 * cannot read: recomputes `response` from its own username, realm, nonce, uri, qop, nc and cnonce and `password`.
 */
export function digestCredentialValid(headerValue: string, method: string, password: string): boolean {
  const scheme = /^\s*Digest\s+/i.exec(headerValue);
  if (!scheme) return false;
  const params: Record<string, string> = {};
  const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let m = re.exec(headerValue); m; m = re.exec(headerValue)) {
    const key = m[1]?.toLowerCase();
    if (key) params[key] = m[2] ?? m[3] ?? '';
  }
  const { username, realm, nonce, uri, response, qop, nc, cnonce } = params;
  const algorithm = (params.algorithm ?? 'MD5').toUpperCase();
  if (!username || realm === undefined || !nonce || !uri || !response || algorithm !== 'MD5') return false;
  const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const expected = qop ? md5(`${ha1}:${nonce}:${nc ?? ''}:${cnonce ?? ''}:${qop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  return expected === response.toLowerCase();
}
