// rtpengine (Debian package rtpengine-daemon) for bench/media-relay.mjs: start it in userspace mode on 127.0.0.1,
// and drive it over its ng control protocol (a cookie, a space, then a bencoded dictionary, over UDP).
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST, trackChild, sleep } from './common.mjs';

// ---------------------------------------------------------------------------------------------------------------
// Bencode (BEP 3): integers i<n>e, byte strings <len>:<bytes>, lists l...e, dictionaries d...e with sorted keys.

export function bencode(value) {
  const parts = [];
  const put = (v) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error(`bencode: not an integer: ${v}`);
      parts.push(Buffer.from(`i${v}e`));
    } else if (typeof v === 'string' || Buffer.isBuffer(v)) {
      const bytes = Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
      parts.push(Buffer.from(`${bytes.length}:`), bytes);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from('l'));
      v.forEach(put);
      parts.push(Buffer.from('e'));
    } else if (v !== null && typeof v === 'object') {
      parts.push(Buffer.from('d'));
      for (const key of Object.keys(v).sort()) {
        if (v[key] === undefined) continue;
        put(key);
        put(v[key]);
      }
      parts.push(Buffer.from('e'));
    } else {
      throw new Error(`bencode: unsupported value ${String(v)}`);
    }
  };
  put(value);
  return Buffer.concat(parts);
}

/** Decodes one bencoded value from `buffer` (byte strings come back as UTF-8 strings). */
export function bdecode(buffer) {
  let at = 0;
  const next = () => {
    const c = buffer[at];
    if (c === 0x69 /* i */) {
      const end = buffer.indexOf(0x65, at);
      if (end < 0) throw new Error('bdecode: unterminated integer');
      const n = Number(buffer.toString('latin1', at + 1, end));
      at = end + 1;
      return n;
    }
    if (c === 0x6c /* l */) {
      at += 1;
      const list = [];
      while (buffer[at] !== 0x65) {
        if (at >= buffer.length) throw new Error('bdecode: unterminated list');
        list.push(next());
      }
      at += 1;
      return list;
    }
    if (c === 0x64 /* d */) {
      at += 1;
      const dict = {};
      while (buffer[at] !== 0x65) {
        if (at >= buffer.length) throw new Error('bdecode: unterminated dictionary');
        const key = next();
        dict[key] = next();
      }
      at += 1;
      return dict;
    }
    if (c >= 0x30 && c <= 0x39) {
      const colon = buffer.indexOf(0x3a, at);
      if (colon < 0) throw new Error('bdecode: bad string length');
      const length = Number(buffer.toString('latin1', at, colon));
      const start = colon + 1;
      if (start + length > buffer.length) throw new Error('bdecode: string runs past the end');
      at = start + length;
      return buffer.toString('utf8', start, start + length);
    }
    throw new Error(`bdecode: unexpected byte 0x${(c ?? 0).toString(16)} at ${at}`);
  };
  const value = next();
  return value;
}

// ---------------------------------------------------------------------------------------------------------------

export function rtpengineBinary() {
  const found = spawnSync('sh', ['-c', 'command -v rtpengine'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

export function rtpengineVersion(binary) {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return `${out.stdout}${out.stderr}`.trim().split('\n')[0] ?? 'unknown';
}

/** A client for the ng protocol: one UDP socket, requests matched to replies by cookie, with a timeout. */
export class NgClient {
  constructor(port) {
    this.port = port;
    this.pending = new Map();
    this.socket = createSocket('udp4');
    this.socket.on('message', (data) => {
      const space = data.indexOf(0x20);
      if (space < 0) return;
      const cookie = data.toString('latin1', 0, space);
      const waiter = this.pending.get(cookie);
      if (!waiter) return;
      this.pending.delete(cookie);
      try {
        waiter.resolve(bdecode(data.subarray(space + 1)));
      } catch (error) {
        waiter.reject(error);
      }
    });
  }

  request(dict, timeoutMs = 2_000) {
    const cookie = randomBytes(8).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cookie);
        reject(new Error(`rtpengine ng: no reply to ${dict.command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(cookie, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.result !== 'ok' && reply.result !== 'pong') {
            reject(new Error(`rtpengine ng ${dict.command}: ${reply.result} ${reply['error-reason'] ?? ''}`));
          } else resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(dict)]), this.port, HOST);
    });
  }

  close() {
    for (const waiter of this.pending.values()) waiter.reject(new Error('ng client closed'));
    this.pending.clear();
    this.socket.close();
  }
}

export function audioSdp(port, sessionId) {
  return [
    'v=0',
    `o=- ${sessionId} 1 IN IP4 ${HOST}`,
    's=-',
    `c=IN IP4 ${HOST}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export function sdpAudioPort(sdp) {
  const m = /^m=audio (\d+) /m.exec(sdp);
  if (!m) throw new Error(`no m=audio line in SDP:\n${sdp}`);
  return Number(m[1]);
}

/**
 * Starts rtpengine in the foreground, userspace forwarding only (--table=-1), bound to 127.0.0.1, and waits until it
 * answers an ng ping. Returns { child, ng, stderr() }.
 */
export async function startRtpengine({ binary, ngPort, portMin, portMax, extraArgs = [], timeoutMs = 10_000 }) {
  // rtpengine writes its pid file wherever it is told (there is no "none"): into a temporary directory, removed after.
  const pidDir = mkdtempSync(join(tmpdir(), 'dialplane-rtpengine-'));
  const args = [
    '--config-file=none',
    '--table=-1',
    '--foreground',
    `--pidfile=${join(pidDir, 'rtpengine.pid')}`,
    `--interface=${HOST}`,
    `--listen-ng=${HOST}:${ngPort}`,
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    '--log-stderr',
    '--log-level=4',
    ...extraArgs,
  ];
  const child = trackChild(spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  child.once('exit', () => rmSync(pidDir, { recursive: true, force: true }));
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-8_000);
  });
  const ng = new NgClient(ngPort);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      ng.close();
      throw new Error(`rtpengine exited (${child.exitCode ?? child.signalCode}) at start: ${stderr.trim()}`);
    }
    try {
      await ng.request({ command: 'ping' }, 300);
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        ng.close();
        child.kill('SIGKILL');
        throw new Error(`rtpengine did not answer ng ping within ${timeoutMs} ms: ${error.message}; ${stderr.trim()}`);
      }
      await sleep(100);
    }
  }
  return { child, ng, args, stderr: () => stderr };
}

/**
 * Sets up one call through rtpengine: offer with phone A's SDP, answer with phone B's. Returns the ports each phone
 * must send to: phone A sends to the port in the answer's rewritten SDP (the one handed to A), phone B to the port in
 * the offer's rewritten SDP (the one handed to B).
 */
export async function rtpengineCall(ng, callId, phoneAPort, phoneBPort) {
  const fromTag = `a-${callId}`;
  const toTag = `b-${callId}`;
  const offer = await ng.request({ command: 'offer', 'call-id': callId, 'from-tag': fromTag, sdp: audioSdp(phoneAPort, 1) });
  const answer = await ng.request({
    command: 'answer',
    'call-id': callId,
    'from-tag': fromTag,
    'to-tag': toTag,
    sdp: audioSdp(phoneBPort, 2),
  });
  return { aSendsTo: sdpAudioPort(answer.sdp), bSendsTo: sdpAudioPort(offer.sdp) };
}

export async function rtpengineDelete(ng, callId) {
  await ng.request({ command: 'delete', 'call-id': callId, 'from-tag': `a-${callId}` });
}
