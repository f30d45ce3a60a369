import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freeUdpPortBlock } from './sipp.js';
import { describeWithPeer, killGroup, requirePeer, trackPeerProcess, type SystemPeer } from './peers.js';

/**
 * baresip (Debian package baresip-core, 1.0.0) as an independent SIP phone in Dialplane's media tests.
 *
 * Each run gets its own config directory (`baresip -f DIR`) in a temporary folder: SIP on UDP 127.0.0.1 only, one
 * account that auto-answers, G.711 only, no sound card (the audio source is a WAV file read by the `aufile`
 * module, the player ALSA's `null` device), the `sndfile` filter dumping each call's audio in both directions to
 * WAV files, and the `ctrl_tcp` remote control (netstring-framed JSON) on 127.0.0.1. The process runs in its own
 * process group under baresip's own `-t` limit; stop(), the test context's cleanup and an exit hook kill it, and
 * the temporary folder is removed.
 */

/** The baresip binary: DIALPLANE_TEST_BARESIP, else `baresip` on PATH. */
export const BARESIP_BIN = process.env.DIALPLANE_TEST_BARESIP ?? 'baresip';
export const BARESIP_MODULE_DIR = process.env.DIALPLANE_TEST_BARESIP_MODULES ?? '/usr/lib/baresip/modules';
const MODULES = ['g711', 'aufile', 'alsa', 'sndfile', 'account', 'menu', 'ctrl_tcp', 'srtp'] as const;
const INSTALL_HINT = 'install the Debian package baresip-core (apt-get install baresip-core)';

// ---------------------------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------------------------

let problemOnce: Promise<string | undefined> | undefined;

/** Undefined when baresip runs and has the modules the tests use, else why not. Checked once per test process. */
function baresipProblem(): Promise<string | undefined> {
  problemOnce ??= new Promise((resolve) => {
    // `baresip -h` prints its version and usage and exits non-zero.
    execFile(BARESIP_BIN, ['-h'], { timeout: 5000 }, (error, stdout, stderr) => {
      const text = `${stdout}${stderr}`;
      if (!/baresip v\d/.test(text)) {
        resolve(error ? `${BARESIP_BIN}: ${error.message}` : `${BARESIP_BIN} -h printed no baresip version`);
        return;
      }
      const missing = MODULES.filter((m) => !existsSync(join(BARESIP_MODULE_DIR, `${m}.so`)));
      resolve(missing.length > 0 ? `baresip modules missing in ${BARESIP_MODULE_DIR}: ${missing.join(', ')}` : undefined);
    });
  });
  return problemOnce;
}

export async function baresipAvailable(): Promise<boolean> {
  return (await baresipProblem()) === undefined;
}


const peer: SystemPeer = { label: 'baresip', hint: INSTALL_HINT, problem: baresipProblem };

/** For one test: true when it can run; else skipped with a visible message, or a failure when CI=true. */
export const requireBaresip = (t: TestContext): Promise<boolean> => requirePeer(peer, t);

/** A suite that needs baresip, by the same rule. Call at top level with await (ESM). */
export const describeWithBaresip = (
  name: string,
  suite: () => void,
  options: { readonly concurrency?: number | boolean; readonly timeout?: number } = {},
): Promise<void> => describeWithPeer(peer, name, suite, options);

// ---------------------------------------------------------------------------------------------------------------
// WAV files
// ---------------------------------------------------------------------------------------------------------------

export interface Wav {
  readonly sampleRate: number;
  readonly channels: number;
  /** 16-bit samples, channels interleaved. */
  readonly samples: Int16Array;
}

/** A mono 16-bit PCM WAV file's bytes. */
export function encodeWav(samples: Int16Array, sampleRate: number): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** Reads a 16-bit PCM WAV file (chunks walked; a data size of 0 or past the end, as a killed writer leaves, read to the end). */
export function decodeWav(bytes: Buffer): Wav {
  if (bytes.toString('ascii', 0, 4) !== 'RIFF' || bytes.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let offset = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    let size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      channels = bytes.readUInt16LE(body + 2);
      sampleRate = bytes.readUInt32LE(body + 4);
      bits = bytes.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`WAV with ${bits}-bit samples, expected 16`);
      if (size === 0 || body + size > bytes.length) size = bytes.length - body;
      const copy = Buffer.from(bytes.subarray(body, body + size - (size % 2)));
      return { sampleRate, channels, samples: new Int16Array(copy.buffer, copy.byteOffset, copy.length / 2) };
    }
    offset = body + size + (size % 2);
  }
  throw new Error('WAV file without a data chunk');
}

/** Seconds of audio louder than `thresholdDbfs` (RMS over 20 ms frames, first channel). */
export function audibleSeconds(wav: Wav, thresholdDbfs = -40): number {
  const frame = Math.max(1, Math.round(wav.sampleRate / 50));
  const step = Math.max(1, wav.channels);
  const total = Math.floor(wav.samples.length / step);
  let loud = 0;
  for (let start = 0; start + frame <= total; start += frame) {
    let sum = 0;
    for (let i = start; i < start + frame; i++) {
      const s = (wav.samples[i * step] ?? 0) / 32768;
      sum += s * s;
    }
    const dbfs = 10 * Math.log10(sum / frame + 1e-12);
    if (dbfs > thresholdDbfs) loud++;
  }
  return (loud * frame) / wav.sampleRate;
}

// ---------------------------------------------------------------------------------------------------------------
// Running baresip
// ---------------------------------------------------------------------------------------------------------------

export interface BaresipEvent {
  readonly type: string;
  readonly class?: string;
  readonly param?: string;
  readonly peeruri?: string;
  readonly [key: string]: unknown;
}

export interface BaresipResponse {
  readonly ok: boolean;
  readonly data: string;
}

export interface BaresipOptions {
  /** The account's user part; Dialplane's INVITE must be for sip:<user>@127.0.0.1:<port> or baresip answers 404. */
  readonly user: string;
  /** What baresip sends into calls: 8 kHz mono samples. Default: silence (so nothing in-band disturbs digits). */
  readonly sourceSamples?: Int16Array;
  /** baresip quits by itself after this many seconds (its -t). Default 60. */
  readonly maxSeconds?: number;
  /** Stopped when this test ends. */
  readonly t?: TestContext;
  /** More modules to load, by name (e.g. `srtp`); each must be in BARESIP_MODULE_DIR. */
  readonly modules?: readonly string[];
  /** More account parameters of the default account line, e.g. `;mediaenc=srtp-mand` (SDES SRTP required). */
  readonly accountParams?: string;
  /** Put baresip's SIP trace (-s: every message with its SDP) in output(). */
  readonly sipTrace?: boolean;
  /**
   * baresip's only account line (see baresipAccountLine), in place of the default unregistered one for `user`: the
   * account registers as baresip starts, and `dial` calls from it.
   */
  readonly account?: string;
  /** A PEM file of CAs baresip trusts for SIP over TLS (its `sip_cafile`): a test's self-signed certificate. */
  readonly tlsCaFile?: string;
  /** A PEM file holding a certificate and its key (its `sip_certificate`): baresip then accepts TLS on `tlsPort`. */
  readonly tlsCertificateFile?: string;
}

export interface BaresipAccount {
  /** The user part: a device's SIP username. */
  readonly user: string;
  readonly password: string;
  /** Dialplane's SIP address: host and the port of `transport`. */
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** Registration interval in seconds (`regint`); 0 does not register. Default 60. */
  readonly regint?: number;
  /** More account parameters, as `name=value` (e.g. `mediaenc=srtp-mand`), appended in order. */
  readonly params?: readonly string[];
}

/**
 * A baresip account line (for `uanew` or the accounts file) that registers with Dialplane and auto-answers:
 * `<sip:user@host:port;transport=..>;auth_pass=..;regint=..;answermode=auto[;params...]`.
 */
export function baresipAccountLine(account: BaresipAccount): string {
  const params = [`auth_pass=${account.password}`, `regint=${account.regint ?? 60}`, 'answermode=auto', ...(account.params ?? [])];
  return `<sip:${account.user}@${account.host}:${account.port};transport=${account.transport}>;${params.join(';')}`;

}

export interface BaresipHandle {
  /** UDP SIP port on 127.0.0.1. */
  readonly port: number;
  /** Its SIP over TLS port (the UDP port + 1), listening when tlsCertificateFile was given. */
  readonly tlsPort: number;
  /** host:port, for DIALPLANE_TRUNK=sip:<address>. */
  readonly address: string;
  /** Runs a ctrl_tcp command (e.g. `sndcode`, `5`) and resolves with baresip's response. */
  command(command: string, params?: string): Promise<BaresipResponse>;
  /** Resolves with the first event of this type (e.g. CALL_ESTABLISHED), past or future; rejects after timeoutMs. */
  waitEvent(type: string, timeoutMs?: number): Promise<BaresipEvent>;
  /**
   * Resolves once baresip printed a registration's 200 OK. baresip may register before its remote control connects,
   * so its REGISTER_OK event can come too early to be seen: its own output is read instead.
   */
  waitRegistered(timeoutMs?: number): Promise<void>;
  /** Every event so far. */
  readonly events: readonly BaresipEvent[];
  /** The audio baresip received in its calls (the sndfile module's `dump-*-dec.wav`), newest last. */
  receivedAudio(): Promise<Wav[]>;
  /** baresip's output so far (stdout and stderr). */
  output(): string;
  /** Ends baresip (SIGTERM, then SIGKILL) and removes its folder; the dumps must be read before. */
  stop(): Promise<void>;
}


const OUTPUT_LIMIT = 256 * 1024;

function configText(
  dir: string,
  port: number,
  ctrlPort: number,
  rtpLow: number,
  rtpHigh: number,
  tls: Pick<BaresipOptions, 'tlsCaFile' | 'tlsCertificateFile'>,
  modules: readonly string[] = [],
): string {
  return [
    ...(tls.tlsCaFile ? [`sip_cafile\t\t${tls.tlsCaFile}`] : []),
    ...(tls.tlsCertificateFile ? [`sip_certificate\t\t${tls.tlsCertificateFile}`] : []),
    'poll_method\t\tepoll',
    `sip_listen\t\t127.0.0.1:${port}`,
    // An interface name ("lo") is not found by baresip 1.0.0; an address is.
    'net_interface\t\t127.0.0.1',
    // Never a public resolver: everything here is an IP address, and any lookup stays on loopback.
    'dns_server\t\t127.0.0.1:53',
    `rtp_ports\t\t${rtpLow}-${rtpHigh}`,
    'call_local_timeout\t120',
    'call_max_calls\t\t4',
    `audio_source\t\taufile,${join(dir, 'source.wav')}`,
    'audio_player\t\talsa,null',
    'audio_alert\t\talsa,null',
    'audio_buffer\t\t20-160',
    'jitter_buffer_delay\t1-10',
    `module_path\t\t${BARESIP_MODULE_DIR}`,
    'module\t\t\tg711.so',
    'module\t\t\taufile.so',
    'module\t\t\talsa.so',
    'module\t\t\tsndfile.so',
    ...modules.map((m) => `module\t\t\t${m}.so`),
    'module_app\t\taccount.so',
    'module_app\t\tmenu.so',
    'module_app\t\tctrl_tcp.so',
    `ctrl_tcp_listen\t\t127.0.0.1:${ctrlPort}`,
    `snd_path\t\t${join(dir, 'dump')}`,
    '',
  ].join('\n');
}

/** Starts baresip and resolves once its SIP port and remote control answer. Retried on other ports if they were taken. */
export async function startBaresip(options: BaresipOptions): Promise<BaresipHandle> {
  if (!(await baresipAvailable())) throw new Error(`baresip unavailable: ${await baresipProblem()}; use requireBaresip(t) first`);
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await launchBaresip(options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function launchBaresip(options: BaresipOptions): Promise<BaresipHandle> {
  // One block below the ephemeral range: SIP (UDP, and baresip also listens TCP on it and TLS on +1), remote
  // control (TCP) +2, RTP +4..+15.
  const base = await freeUdpPortBlock(16);
  const port = base;
  const ctrlPort = base + 2;
  const dir = await mkdtemp(join(tmpdir(), 'dialplane-baresip-'));
  const missing = (options.modules ?? []).filter((m) => !existsSync(join(BARESIP_MODULE_DIR, `${m}.so`)));
  if (missing.length > 0) throw new Error(`baresip modules missing in ${BARESIP_MODULE_DIR}: ${missing.join(', ')}`);
  await writeFile(join(dir, 'config'), configText(dir, port, ctrlPort, base + 4, base + 15, options, options.modules));
  await writeFile(join(dir, 'accounts'), `${options.account ?? `<sip:${options.user}@127.0.0.1>;regint=0;answermode=auto${options.accountParams ?? ''}`}\n`);
  // The source must outlast the call: aufile ends the stream at the end of the file.
  const seconds = options.maxSeconds ?? 60;
  await writeFile(join(dir, 'source.wav'), encodeWav(options.sourceSamples ?? new Int16Array(8000 * seconds), 8000));
  await mkdir(join(dir, 'dump'));

  // DIALPLANE_TEST_BARESIP_LOG=1 adds baresip's SIP trace (-s) to its output.
  const args = ['-f', dir, '-t', String(seconds), '-v', ...(process.env.DIALPLANE_TEST_BARESIP_LOG || options.sipTrace ? ['-s'] : [])];
  const child = spawn(BARESIP_BIN, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = trackPeerProcess(child);
  let output = '';
  const append = (chunk: string): void => {
    output = (output + chunk).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      append(`\nspawn failed: ${error.message}`);
      resolve();
    });
    child.once('close', () => resolve());
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    untrack();
  });

  let socket: Socket | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      socket?.destroy();
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    })();
    return stopping;
  };
  options.t?.after(stop);

  // Ready once "baresip is ready." is printed and the remote control accepts a connection.
  const deadline = Date.now() + 5000;
  while (!output.includes('baresip is ready.')) {
    if (ended || Date.now() > deadline) {
      await stop();
      throw new Error(`baresip did not start (${ended ? 'it exited' : 'not ready within 5 s'})\n${output.slice(-4000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  try {
    socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(ctrlPort, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  } catch (error) {
    await stop();
    throw new Error(`baresip's ctrl_tcp did not answer on 127.0.0.1:${ctrlPort}: ${String(error)}\n${output.slice(-4000)}`);
  }

  // Netstrings in both directions: "<length>:<JSON>,".
  const events: BaresipEvent[] = [];
  const eventWaiters = new Set<(event: BaresipEvent) => void>();
  const pending = new Map<string, (response: BaresipResponse) => void>();
  let buffer = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const colon = buffer.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(buffer.toString('ascii', 0, colon));
      if (!Number.isInteger(length)) {
        append(`\n[test] bad netstring from ctrl_tcp: ${buffer.toString('latin1', 0, 40)}`);
        buffer = Buffer.alloc(0);
        return;
      }
      if (buffer.length < colon + 1 + length + 1) return;
      const text = buffer.toString('utf8', colon + 1, colon + 1 + length);
      buffer = buffer.subarray(colon + 1 + length + 1);
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(text) as Record<string, unknown>;
      } catch {
        append(`\n[test] unparsable ctrl_tcp message: ${text}`);
        continue;
      }
      if (message.event === true) {
        const event = message as unknown as BaresipEvent;
        events.push(event);
        for (const waiter of eventWaiters) waiter(event);
      } else if (message.response === true) {
        const token = String(message.token ?? '');
        pending.get(token)?.({ ok: message.ok === true, data: String(message.data ?? '') });
        pending.delete(token);
      }
    }
  });

  let nextToken = 1;
  const command = (name: string, params?: string): Promise<BaresipResponse> => {
    const token = `t${nextToken++}`;
    const json = JSON.stringify(params === undefined ? { command: name, token } : { command: name, params, token });
    const body = Buffer.from(json, 'utf8');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip gave no response to ${json} within 5 s\n${output.slice(-4000)}`));
      }, 5000);
      pending.set(token, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      socket?.write(Buffer.concat([Buffer.from(`${body.length}:`, 'ascii'), body, Buffer.from(',', 'ascii')]));
    });
  };

  const waitEvent = (type: string, timeoutMs = 10_000): Promise<BaresipEvent> => {
    const seen = events.find((e) => e.type === type);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = (event: BaresipEvent): void => {
        if (event.type !== type) return;
        clearTimeout(timer);
        eventWaiters.delete(waiter);
        resolve(event);
      };
      const timer = setTimeout(() => {
        eventWaiters.delete(waiter);
        reject(new Error(`no baresip ${type} event within ${timeoutMs} ms; events: ${events.map((e) => e.type).join(', ') || 'none'}\n${output.slice(-4000)}`));
      }, timeoutMs);
      eventWaiters.add(waiter);
    });
  };

  const waitRegistered = async (timeoutMs = 10_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!/200 OK .*\[\d+ bindings?\]/.test(output)) {
      if (ended || Date.now() > deadline) throw new Error(`baresip did not register within ${timeoutMs} ms\n${output.slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  // sndfile finalises a dump's WAV header when the call's audio is destroyed, just after baresip reports
  // CALL_CLOSED: wait (up to 2 s) for the RIFF size to match the file before reading it.
  const receivedAudio = async (): Promise<Wav[]> => {
    const names = (await readdir(join(dir, 'dump'))).filter((n) => n.endsWith('-dec.wav')).sort();
    return Promise.all(
      names.map(async (n) => {
        const deadline = Date.now() + 2000;
        for (;;) {
          const bytes = await readFile(join(dir, 'dump', n));
          const complete = bytes.length >= 12 && bytes.readUInt32LE(4) === bytes.length - 8;
          if (complete || Date.now() > deadline) return decodeWav(bytes);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }),
    );
  };

  return {
    port,
    tlsPort: port + 1,
    address: `127.0.0.1:${port}`,
    command,
    waitEvent,
    waitRegistered,
    events,
    receivedAudio,
    output: () => output,
    stop,
  };
}
