// SIPp helpers for the benchmarks in bench/: free UDP ports, running sipp (always under coreutils `timeout`, as a
// child process, never -bg) and reading its -trace_stat CSV. Loopback only; every child is registered with
// common.mjs's cleanup so it is killed if the benchmark dies.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { HOST, tail, trackChild } from './common.mjs';

export const SIPP = '/usr/bin/sipp';
export const TIMEOUT = 'timeout';

/** `SIPp v3.6.1-...` or throws when sipp is missing. */
export function sippVersion() {
  if (!existsSync(SIPP)) throw new Error(`${SIPP} not found (install sipp)`);
  let out = '';
  try {
    out = execFileSync(SIPP, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  } catch (error) {
    // sipp -v exits non-zero on some builds; its output still names the version.
    out = `${error.stdout ?? ''}${error.stderr ?? ''}`;
  }
  return /SIPp v\S+/.exec(out)?.[0] ?? 'SIPp (unknown version)';
}

function udpPortFree(port) {
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', () => {
      try {
        socket.close();
      } catch {
        // never bound
      }
      resolve(false);
    });
    socket.bind({ port, address: HOST, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

const claimed = new Set();

/**
 * A base port whose `count` consecutive UDP ports on 127.0.0.1 were free a moment ago and are not claimed by an
 * earlier call in this process. Searched from a random even port in [min, max) so that concurrent benchmark runs on
 * the same machine (other sessions run sipp too) rarely pick the same ports. The default range stays below the
 * Linux ephemeral range (32768+) and Dialplane's RTP range used by the benchmarks (30000-39999).
 */
export async function freeUdpPorts(count = 1, { min = 20000, max = 29900 } = {}) {
  const span = Math.floor((max - min) / 2);
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const base = min + 2 * ((start + i) % span);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = !claimed.has(p) && (await udpPortFree(p));
    if (ok) {
      for (let p = base; p < base + count; p++) claimed.add(p);
      return base;
    }
  }
  throw new Error(`no ${count} consecutive free UDP ports in ${min}-${max}`);
}

/** SIP port and media base port (-mp; sipp may bind mp..mp+3 for audio/video RTP and RTCP) for one sipp. */
export async function sippPorts() {
  const sip = await freeUdpPorts(1);
  const media = await freeUdpPorts(4);
  return { sip, media };
}

// coreutils timeout puts itself in a process group of its own (pgid = its pid) with sipp in it. A SIGKILL to
// `timeout` alone (which common.mjs's exit cleanup sends) would orphan sipp, so hard kills go to that group.
const running = new Set();
let exitHookInstalled = false;

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Starts `timeout <limitS> sipp <args>` with stdin ignored and stdout/stderr appended to `logFile` (sipp repaints its
 * screen there). Returns { child, command, exited } where `exited` resolves { code, signal, ms } (ms = wall time
 * from spawn to exit). coreutils timeout forwards SIGINT/SIGTERM to sipp; on process exit, any sipp still running
 * is SIGKILLed with its timeout (process group).
 */
export function startSipp(args, { logFile, limitS, cwd }) {
  const fd = openSync(logFile, 'a');
  const argv = ['--kill-after=5', String(limitS), SIPP, ...args];
  let child;
  const t0 = performance.now();
  try {
    child = trackChild(spawn(TIMEOUT, argv, { cwd, stdio: ['ignore', fd, fd] }));
  } finally {
    closeSync(fd);
  }
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) killGroup(c);
    });
  }
  const exited = new Promise((resolve, reject) => {
    child.once('error', (error) => {
      running.delete(child);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, ms: performance.now() - t0 });
    });
  });
  return { child, command: `${TIMEOUT} ${argv.join(' ')}`, exited };
}

/** Signals a running sipp (through timeout, which forwards it) and waits for it; SIGKILL to the group after `graceMs`. */
export async function stopSipp(run, { signal = 'SIGINT', graceMs = 5000 } = {}) {
  const { child } = run;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal);
    const timer = setTimeout(() => killGroup(child), graceMs);
    try {
      return await run.exited;
    } finally {
      clearTimeout(timer);
    }
  }
  return run.exited;
}

/** Waits up to `ms` for sipp to exit by itself; true if it did. */
export async function waitExit(run, ms) {
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([run.exited.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** sipp's exit code, in words (sipp(1) "EXIT STATUS"); 124/137 are coreutils timeout's. */
export function describeSippExit({ code, signal }) {
  if (signal) return `killed by ${signal}`;
  const known = {
    0: 'all calls succeeded',
    1: 'at least one call failed',
    97: 'exit on internal command',
    99: 'normal exit without calls processed',
    124: 'killed by `timeout` (time limit reached)',
    137: 'SIGKILLed by `timeout`',
    255: 'fatal error',
    254: 'fatal error binding a socket',
  };
  return `exit ${code} (${known[code] ?? 'unknown'})`;
}

/** Epoch seconds from a sipp time cell ("2026-11-22\t19:15:44.528442\t1795374944.528442"). */
function epochOf(cell) {
  const parts = String(cell).split('\t');
  return Number(parts[parts.length - 1]);
}

/**
 * Reads a -trace_stat CSV (';'-separated, header first). Returns the rows as objects keyed by column name, plus a
 * summary of the last (cumulative) row: calls created, successful, failed (with the non-zero Failed* columns),
 * retransmissions, sipp's own cumulative CallRate(C), and `seconds` = CurrentTime - StartTime of the last row with
 * microsecond resolution (ElapsedTime(C) has whole seconds only).
 */
export function readStatCsv(file) {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return undefined;
  const header = lines[0].split(';');
  const rows = lines.slice(1).map((line) => {
    const cells = line.split(';');
    return Object.fromEntries(header.map((name, i) => [name, cells[i]]));
  });
  const last = rows[rows.length - 1];
  const num = (name) => Number(last[name] ?? Number.NaN);
  const failures = {};
  for (const name of header) {
    if (name.startsWith('Failed') && name.endsWith('(C)') && name !== 'FailedCall(C)' && num(name) > 0) {
      failures[name.replace('(C)', '')] = num(name);
    }
  }
  const seconds = epochOf(last.CurrentTime) - epochOf(last.StartTime);
  return {
    rows,
    created: num('TotalCallCreated'),
    incoming: num('IncomingCall(C)'),
    outgoing: num('OutgoingCall(C)'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    failures,
    retransmissions: num('Retransmissions(C)'),
    deadCallMsgs: num('DeadCallMsgs(C)'),
    outOfCallMsgs: num('OutOfCallMsgs(C)'),
    targetRate: num('TargetRate'),
    callRate: num('CallRate(C)'),
    seconds,
  };
}

/**
 * Datagrams the kernel dropped for the UDP socket bound to 127.0.0.1:<port> (the `drops` column of /proc/net/udp:
 * receive buffer full, mostly), and its receive queue now; undefined when not found (or not Linux).
 */
export function udpSocketDrops(port) {
  let text;
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return undefined;
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local) return { drops: Number(cols[12]), rxQueue: parseInt(cols[4].split(':')[1], 16) };
  }
  return undefined;
}

export { tail };
