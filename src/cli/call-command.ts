import { Command, Option } from 'commander';
import { isHeartbeat } from '../api/event-stream.js';
import type { Config } from '../config/config.js';
import { AdminCommandError, connectAdmin, connectServer, resolveAccount } from './admin-client.js';

interface CallOptions {
  json?: boolean;
  from: string;
  account?: string;
  timeout: string;
  maxDuration: string;
}

/**
 * `dialplane call`'s exit status by the call's outcome, so a script can branch on it without parsing: 0 only for a
 * call that was answered. 1 and 2 keep their meaning for every command (the command failed; invalid configuration).
 */
export const CALL_EXIT_CODES: Readonly<Record<string, number>> = {
  completed: 0,
  busy: 3,
  no_answer: 4,
  rejected: 5,
  unallocated: 6,
  invalid_number: 7,
  failed: 8,
  canceled: 9,
};

/** An outcome this build does not know yet is still not an answered call. */
export function callExitCode(outcome: string): number {
  return CALL_EXIT_CODES[outcome] ?? CALL_EXIT_CODES.failed!;
}

export function addCallCommand(program: Command, config: () => Config): Command {
  return program
  .command('call <to>')
  .description('place a call through the running server and print its events until it ends; Ctrl-C hangs it up')
  .requiredOption('--from <number>', 'caller ID: a voice number of the account')
  .addOption(new Option('--account <id>', 'account id (optional when only one account exists)'))
  .option('--timeout <seconds>', 'ring timeout', '30')
  .option('--max-duration <seconds>', 'maximum duration after answer', '3600')
  .option('--json', 'one JSON object per line; the last carries the outcome and hangup cause')
  .addHelpText(
    'after',
    `\nExit status: ${Object.entries(CALL_EXIT_CODES).map(([outcome, code]) => `${code} ${outcome}`).join(', ')}; ` +
      `1 the call could not be placed or followed, 2 invalid configuration, ${EXIT_INTERRUPTED} Ctrl-C.`,
  )
  .action(async (to: string, o: CallOptions) => {
    const cfg = config();
    const { baseUrl, token } = await connectServer(cfg);
    const client = await connectAdmin(cfg);
    const accountId = await resolveAccount(client, o.account).finally(() => client.close());
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const calls = `${baseUrl}/admin/v1/accounts/${encodeURIComponent(accountId)}/calls`;
    // Ctrl-C hangs the call up (through the API, like any other hangup), waits for its final event and exits 130;
    // a second Ctrl-C, or no final event in time, leaves at once.
    let callId: string | undefined;
    let interrupted = false;
    const hangup = (id: string) => {
      process.stderr.write(`hanging up call ${id}\n`);
      fetch(`${calls}/${encodeURIComponent(id)}/hangup`, { method: 'POST', headers: { authorization: headers.authorization } })
        .then(async (response) => {
          if (!response.ok) process.stderr.write(`dialplane: hangup answered HTTP ${response.status}: ${await response.text()}\n`);
        })
        .catch((error: unknown) => process.stderr.write(`dialplane: could not hang up: ${error instanceof Error ? error.message : String(error)}\n`));
      setTimeout(() => {
        process.stderr.write(`dialplane: no final event for call ${id} after the hangup\n`);
        process.exit(EXIT_INTERRUPTED);
      }, HANGUP_FINAL_EVENT_WAIT_MS).unref();
    };
    const onInterrupt = () => {
      if (interrupted) process.exit(EXIT_INTERRUPTED);
      interrupted = true;
      if (callId) hangup(callId);
    };
    process.on('SIGINT', onInterrupt);
    try {
      const placed = await fetch(calls, {
        method: 'POST',
        headers,
        body: JSON.stringify({ to, from: o.from, ring_timeout_s: Number(o.timeout), max_duration_s: Number(o.maxDuration) }),
      });
      const body = (await placed.json()) as { call?: { id: string }; error?: { code: string; message: string } };
      if (!placed.ok || !body.call) throw new AdminCommandError(body.error?.message ?? `HTTP ${placed.status}`, body.error?.code ?? 'error');
      callId = body.call.id;
      if (!o.json) process.stdout.write(`call ${callId}: ${o.from} -> ${to}\n`);
      if (interrupted) hangup(callId);
      const outcome = await followCall(`${calls}/${encodeURIComponent(callId)}/events/stream`, headers, Boolean(o.json));
      if (outcome === undefined) throw new AdminCommandError(`the event stream of call ${callId} ended before the call did`, 'stream_ended');
      process.exitCode = callExitCode(outcome);
    } finally {
      process.off('SIGINT', onInterrupt);
    }
    if (interrupted) process.exitCode = EXIT_INTERRUPTED;
  });
}

/** Exit status after Ctrl-C, as shells report a process ended by SIGINT (128 + 2). */
const EXIT_INTERRUPTED = 130;
/** How long `dialplane call` waits for the final event after hanging up on Ctrl-C. */
const HANGUP_FINAL_EVENT_WAIT_MS = 10_000;

/**
 * Prints a call's live events until its final one; resolves the call's outcome, or undefined if it never arrived. Heartbeat lines (sent every 15 s
 * so that fetch's 300 s body timeout never ends a quiet call's stream) are skipped.
 */
async function followCall(url: string, headers: Record<string, string>, json: boolean): Promise<string | undefined> {
  const stream = await fetch(url, { headers });
  if (!stream.ok || !stream.body) throw new AdminCommandError(`could not follow the call (HTTP ${stream.status})`, 'error');
  let buffered = '';
  let outcome: string | undefined;
  try {
    for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += Buffer.from(chunk).toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!line.trim()) continue;
        const event = JSON.parse(line) as Record<string, unknown>;
        if (isHeartbeat(event)) continue;
        if (event.state === 'ended') outcome = String(event.outcome);
        process.stdout.write(json ? `${line}\n` : `${humanEvent(event)}\n`);
      }
    }
  } catch (error) {
    throw new AdminCommandError(`lost the call's event stream: ${error instanceof Error ? error.message : String(error)}`, 'stream_lost');
  }
  return outcome;
}


function humanEvent(event: Record<string, unknown>): string {
  const sip = event.sip_status ? ` (${String(event.sip_status)} ${String(event.sip_reason ?? '')})` : '';
  if (event.state !== 'ended') return `${String(event.at)}  ${String(event.state)}${sip}`;
  return `${String(event.at)}  ended: ${String(event.outcome)}, ${String(event.hangup_cause)} (${String(event.hangup_cause_code)}), ${String(event.end_reason)}${sip}`;
}

