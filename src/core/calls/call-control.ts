import { DialplaneError, isDialplaneError } from '../../errors.js';
import type { NodeCommand, NodeReply } from '../../shared-state/node-bus.js';
import { normalizePhoneNumber } from '../phone-number.js';
import type { Application } from '../applications.js';
import type { Services } from '../services.js';
import type { CallEngine, InboundLegEvents, InboundSignal } from './call-engine.js';
import type { Call, CallActivity, CallUpdate, CallWatcher, Recording } from './call-service.js';
import { CallSession, type CallMediaPort } from './call-session.js';
import { planLegs, reachOfNumber, transferTarget, type DeviceContacts } from './call-targets.js';
import { Interpreter } from './interpreter.js';
import { sendToOwner, whenOverElsewhere } from './remote-calls.js';
import { validateProgram, type DialTarget, type Program } from './program.js';
import { DEFAULT_MAX_DURATION_S, DEFAULT_RING_TIMEOUT_S, within, RING_TIMEOUT_RANGE, MAX_DURATION_RANGE } from './call-limits.js';

/** What a call runs: a stored application (its program or its call hook), an inline program, or nothing. */
type ApplicationSpec = Pick<Application, 'id' | 'callHook' | 'program'>;

export interface CallControlDeps {
  readonly services: Services;
  readonly engine: CallEngine;
  readonly media: CallMediaPort;
  readonly contacts: DeviceContacts;
  readonly onError: (error: unknown, context: string) => void;
}

export interface StartCallInput {
  /** The id to store the call under (a face whose document shapes its own ids); a new call id otherwise. */
  readonly id?: string;
  readonly from: string;
  /**
   * The caller checked `from` against a list of its own (a gateway app's caller-ID allow-list): it need not be one of
   * the account's voice numbers.
   */
  readonly callerIdAllowed?: boolean;
  /** What rings first: one or more targets at once; the first to answer is the call's controlling leg. */
  readonly to: readonly DialTarget[];
  readonly applicationId?: string;
  readonly program?: Program;
  readonly ringTimeoutS?: number;
  readonly maxDurationS?: number;
  /** Numbers whose first minute is reserved before anything is dialled (402 when the balance cannot cover them). */
  readonly prepayFor?: readonly string[];
  /** Stored with the call (a face's own particulars). */
  readonly metadata?: Record<string, unknown> | null;
}

/** An inbound call as the carrier hands it over, after the INVITE gate let it in. */
export interface InboundCallInput {
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly sipCallId: string;
  readonly trunk: string;
}

/** A call a registered device places (its INVITE answered the digest challenge): to an extension's number, or a number. */
export interface DeviceCallInput {
  readonly accountId: string;
  readonly deviceId: string;
  readonly extensionId: string;
  /** The device's SIP username. */
  readonly from: string;
  /** What the device dialled: an extension's number (309) or a phone number in any format the default country allows. */
  readonly dialed: string;
  readonly sipCallId: string;
}

/** Keys a gather collected, from the call's activities: what was pressed, why collection ended, when. */
export interface Gathered {
  readonly digits: string;
  readonly reason: string;
  readonly at: string;
}

/** A call as the APIs show it: its legs, what its program did, its recordings and what it cost. */
export interface CallView {
  readonly call: Call;
  readonly legs: readonly Call[];
  readonly activities: readonly CallActivity[];
  /** Every gather's result, oldest first (also among `activities`, as kind `gather`). */
  readonly gathered: readonly Gathered[];
  /** The call's last change: a leg's state or an activity, whichever came last. */
  readonly updatedAt: string;
  readonly recordings: readonly Recording[];
  /** Charged so far (settled legs); null while a leg is live. */
  readonly costMinor: number | null;
  readonly live: boolean;
}

const INBOUND_MAX_DURATION_S = 3_600;
/** `--answer` without an application: answered, then held for live commands (POST …/calls/{id}/program). */
const ANSWER_PROGRAM: Program = [{ verb: 'pause', length: INBOUND_MAX_DURATION_S }];

/**
 * Call control: one model for every call. A call is a session of legs (inbound or outbound, through a trunk or to a
 * registered device) and the bridges between them; it runs a verb program (inline, stored in an application, or
 * returned by the application's call hook) on its controlling leg, and takes live commands: a new program, hang-up.
 * Every face and the admin API start, read and end calls here.
 */
export class CallControl {
  private readonly sessions = new Map<string, { session: CallSession; interpreter: Interpreter | undefined }>();

  constructor(private readonly deps: CallControlDeps) {
    deps.services.calls.bus.serve((command) => this.serve(command));
  }

  get engine(): CallEngine {
    return this.deps.engine;
  }

  /** An outbound call: its caller ID must be a voice number of the account; rings `to`, then runs the program. */
  async start(accountId: string, input: StartCallInput): Promise<Call> {
    const { services } = this.deps;
    const from = normalizePhoneNumber(input.from, services.defaultCountry, 'from');
    if (!input.callerIdAllowed && !(await services.numbers.isVoiceNumberOf(accountId, from))) {
      throw new DialplaneError('validation_failed', `from ${from} is not a voice number of this account`, { field: 'from' });
    }
    const ringTimeoutS = within(input.ringTimeoutS ?? DEFAULT_RING_TIMEOUT_S, RING_TIMEOUT_RANGE, 'ring_timeout');
    const maxDurationS = within(input.maxDurationS ?? DEFAULT_MAX_DURATION_S, MAX_DURATION_RANGE, 'max_duration');
    const application = input.applicationId ? await this.deps.services.applications.get(accountId, input.applicationId) : undefined;
    const program = input.program ? validateProgram(input.program) : undefined;
    const first = input.to[0];
    const rungFor = first?.type === 'phone' ? normalizePhoneNumber(first.number, services.defaultCountry, 'to') : from;
    const plans = await planLegs(services, this.deps.contacts, accountId, input.to, rungFor);
    if (plans.length === 0) throw new DialplaneError('validation_failed', 'nothing to ring: no target can be reached', { field: 'to' });
    const session = this.newSession({
      ...(input.id ? { id: input.id } : {}),
      accountId,
      direction: 'outbound',
      from,
      to: rungFor,
      applicationId: application?.id ?? null,
      ringTimeoutS,
      maxDurationS,
      metadata: input.metadata ?? null,
    });
    if (input.prepayFor && input.prepayFor.length > 0) {
      const prices = await Promise.all(input.prepayFor.map((number) => services.prices.lookup('voice', accountId, number)));
      await session.billing.prepay(prices.reduce((a, b) => a + b, 0));
    }
    const ringing = session.ring(plans, { callerId: from, ringTimeoutS, maxDurationS });
    try {
      await ringing.placed;
    } catch (error) {
      session.finish();
      throw error;
    }
    const entry = { session, interpreter: undefined as Interpreter | undefined };
    this.sessions.set(session.callId, entry);
    void session.settled.then(() => this.sessions.delete(session.callId));
    void ringing.answered
      .then((result) => {
        if (!result.winner) {
          session.finish();
          return;
        }
        session.takeControl(result.winner.id);
        entry.interpreter = this.run(session, application, program);
      })
      .catch((error: unknown) => {
        this.deps.onError(error, `call ${session.callId}`);
        session.finish();
      });
    return session.firstLeg();
  }

  /**
   * An INVITE to one of the account's numbers: the leg is stored and rings, its first minute reserved when it came
   * through a trunk (refused with 402 otherwise), then the number's route decides the program: an application, an
   * extension or a forward number (a dial), answered here (held for live commands), or nothing (480).
   */
  async receive(input: InboundCallInput, signal: InboundSignal): Promise<InboundLegEvents | undefined> {
    const { services } = this.deps;
    const route = await services.extensions.routeOf(input.to);
    const application = route?.applicationId
      ? await services.applications.get(input.accountId, route.applicationId).catch(() => undefined)
      : undefined;
    return this.take(input, signal, application, application ? undefined : routeProgram(route, input.from));
  }

  /**
   * A registered device's call out: to one of the account's extensions by its number (ringing its devices and its
   * mobile), else to a phone number through the trunk, with the extension's caller ID (callerIdOf). The device's own
   * leg is free; what it dials is billed as any leg. Nothing it can reach: 404.
   */
  async receiveFromDevice(input: DeviceCallInput, signal: InboundSignal): Promise<InboundLegEvents | undefined> {
    const { services } = this.deps;
    const callerId = await services.extensions.callerIdOf(input.accountId, input.extensionId);
    const extension = await services.extensions.findByNumber(input.accountId, input.dialed.trim());
    let target: DialTarget;
    let to: string;
    if (extension) {
      target = { type: 'extension', extension: extension.id };
      to = extension.number ?? extension.id;
    } else {
      try {
        to = normalizePhoneNumber(input.dialed, services.defaultCountry, 'to');
      } catch {
        signal.reject(404, 'Not Found');
        return undefined;
      }
      // A number through the trunk needs a caller ID of the account's.
      if (callerId === undefined) {
        signal.reject(403, 'Forbidden (the account has no voice number to call from)');
        return undefined;
      }
      target = { type: 'phone', number: to };
    }
    const program: Program = [{ verb: 'dial', target: [target], ...(callerId !== undefined ? { callerId } : {}) }];
    return this.take(
      { accountId: input.accountId, from: input.from, to, sipCallId: input.sipCallId, trunk: 'device' },
      signal,
      undefined,
      program,
    );
  }

  /** Takes an inbound leg and runs `program` (or the application) on it. */
  private async take(
    input: InboundCallInput,
    signal: InboundSignal,
    application: ApplicationSpec | undefined,
    program: Program | undefined,
  ): Promise<InboundLegEvents | undefined> {
    const { services } = this.deps;
    const billed = input.trunk !== 'device';
    const priceMinor = billed ? await services.prices.lookup('voice', input.accountId, input.to) : null;
    const session = this.newSession({
      accountId: input.accountId,
      direction: 'inbound',
      from: input.from,
      to: input.to,
      applicationId: application?.id ?? null,
      ringTimeoutS: DEFAULT_RING_TIMEOUT_S,
      maxDurationS: INBOUND_MAX_DURATION_S,
    });
    if (priceMinor !== null) {
      try {
        await session.billing.reserveLeg(priceMinor);
      } catch {
        signal.reject(402, 'Payment Required');
        return undefined;
      }
    }
    let received;
    try {
      received = await this.deps.engine.receive(
        {
          ...input,
          id: session.plannedRoot,
          maxDurationS: INBOUND_MAX_DURATION_S,
          priceMinor,
          applicationId: application?.id ?? null,
          onEndTransaction: session.endWrite,
        },
        signal,
      );
    } catch (error) {
      await session.billing.settle(0, 'inbound call not taken');
      throw error;
    }
    if (!this.deps.engine.isLive(received.call.id)) {
      // The caller gave up while the call was being taken (an early CANCEL): nothing runs and nothing is charged.
      await this.deps.engine.whenEnded(received.call.id);
      await session.billing.settle(0, 'inbound call canceled before it rang');
      return received.events;
    }
    session.billing.forCall(received.call.id);
    session.adoptInbound(received.call);
    const entry = { session, interpreter: undefined as Interpreter | undefined };
    this.sessions.set(session.callId, entry);
    void session.settled.then(() => this.sessions.delete(session.callId));
    entry.interpreter = this.run(session, application, program);
    // Nothing takes the call (no route, or an application that could not be read): 480, as for nobody there.
    if (!entry.interpreter) this.deps.engine.reject(received.call.id, 480, 'Temporarily Unavailable');
    return received.events;
  }

  /** A call with its legs, activities, recordings and cost; another account's is not_found. */
  async view(accountId: string, callId: string): Promise<CallView> {
    const { calls } = this.deps.services;
    const call = await calls.get(accountId, callId);
    const legs = await calls.legs(accountId, callId);
    const all = [call, ...legs];
    const live = all.some((leg) => leg.state !== 'ended') || this.sessions.has(callId);
    const costMinor = live ? null : all.reduce((sum, leg) => sum + (leg.costMinor ?? 0), 0);
    const activities = await calls.activities(accountId, callId);
    return {
      call,
      legs,
      activities,
      gathered: gatheredOf(activities),
      updatedAt: [...all.map((leg) => leg.updatedAt), ...activities.map((a) => a.at)].reduce((a, b) => (b > a ? b : a)),
      recordings: await calls.recordings(accountId, all.map((leg) => leg.id)),
      costMinor,
      live,
    };
  }

  /**
   * Hangs up every leg of the call; resolves once the call is over and settled. A call another node drives is hung up
   * there (with a shared node bus).
   */
  async hangup(accountId: string, callId: string): Promise<CallView> {
    if (!(await sendToOwner(this.deps.services.calls, accountId, callId, { kind: 'hangup', body: { accountId, callId } }))) await this.hangupHere(accountId, callId);
    return this.view(accountId, callId);
  }

  /** Live command: replaces what the call is doing now with `program` (on the node driving the call). */
  async replaceProgram(accountId: string, callId: string, input: unknown): Promise<void> {
    const program = validateProgram(input);
    if (await sendToOwner(this.deps.services.calls, accountId, callId, { kind: 'program', body: { accountId, callId, program } })) return;
    this.replaceProgramHere(callId, program);
  }

  private async hangupHere(accountId: string, callId: string): Promise<void> {
    const entry = this.sessions.get(callId);
    if (entry) {
      entry.interpreter?.stop();
      const control = entry.session.controllingLeg;
      if (control) await this.deps.engine.hangup(accountId, control);
      entry.session.finish();
      await entry.session.settled;
    } else if (this.deps.engine.isLive(callId)) {
      await this.deps.engine.hangup(accountId, callId);
    }
  }

  private replaceProgramHere(callId: string, program: Program): void {
    const entry = this.sessions.get(callId);
    if (!entry || entry.session.isOver || !entry.session.controllingLeg) {
      throw new DialplaneError('not_found', 'no call in progress with that id');
    }
    // A running program is cut short; the interpreter records the live program when it takes over.
    if (entry.interpreter?.replace(program)) return;
    // Refused by a program that is over (the call is hanging up): nothing is left to replace.
    if (entry.interpreter) throw new DialplaneError('not_found', 'no call in progress with that id');
    // A call that runs no program yet (placed without one) starts this one.
    entry.session.activity('program', { source: 'live', verbs: program.length });
    entry.interpreter = this.runProgram(entry.session, program);
  }

  /** A live command another node forwarded: carried out here only, since this node drives the call. */
  private async serve(command: NodeCommand): Promise<NodeReply> {
    const { accountId, callId } = command.body;
    try {
      if (typeof accountId !== 'string' || typeof callId !== 'string') throw new DialplaneError('bad_request', 'malformed node command');
      await this.deps.services.calls.assertOwnedHere(accountId, callId);
      if (command.kind === 'hangup') await this.hangupHere(accountId, callId);
      else if (command.kind === 'program') this.replaceProgramHere(callId, validateProgram(command.body.program));
      else throw new DialplaneError('bad_request', `unknown node command ${command.kind}`);
      return { ok: true, body: null };
    } catch (error) {
      if (!isDialplaneError(error)) throw error;
      return { ok: false, error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } };
    }
  }

  /**
   * Hears every update of a call until the returned function is called: the state events of its first leg and of
   * every other leg, and its activities. A leg rung later is heard from its first event (its stored ones replayed
   * when it is added). Watch, then read what is stored and de-duplicate: each update is heard after it is stored.
   */
  watch(callId: string, listener: CallWatcher): () => void {
    const { calls } = this.deps.services;
    const stops = new Map<string, () => void>();
    let open = true;
    const follow = (id: string) => {
      if (!stops.has(id)) stops.set(id, calls.watch(id, listener));
    };
    /**
     * A leg added while watching was stored (queued, dialing) before the session knew it: its stored events come
     * first, then its live ones, each once.
     */
    const followAdded = (accountId: string, leg: Call) => {
      if (stops.has(leg.id)) return;
      const heard = new Set<string>();
      let held: CallUpdate[] | undefined = [];
      const deliver = (update: CallUpdate) => {
        if (!open) return;
        if (update.type === 'event') {
          const key = `${update.event.state}|${update.event.at}`;
          if (heard.has(key)) return;
          heard.add(key);
        }
        listener(update);
      };
      stops.set(leg.id, calls.watch(leg.id, (update) => (held ? held.push(update) : deliver(update))));
      void calls
        .events(accountId, leg.id)
        .then((events) => {
          for (const event of events) deliver({ type: 'event', event, call: leg });
        })
        .catch((error: unknown) => this.deps.onError(error, `call ${callId}: a leg's stored events`))
        .finally(() => {
          const live = held ?? [];
          held = undefined;
          for (const update of live) deliver(update);
        });
    };
    follow(callId);
    const session = this.sessions.get(callId)?.session;
    // Another node drives the call: its legs are heard as their updates are relayed, each from its stored events on.
    const stopAdded = session
      ? session.onLegAdded((call) => followAdded(session.init.accountId, call))
      : calls.watchLegs(callId, (update) => {
          if (update.type === 'event') followAdded(update.call.accountId, update.call);
        });
    for (const call of session?.legCalls() ?? []) follow(call.id);
    return () => {
      open = false;
      stopAdded();
      for (const stop of stops.values()) stop();
      stops.clear();
    };
  }

  /** What calling one of the account's numbers reaches (its extension's phones, its forward number, or itself). */
  reachOfNumber(accountId: string, number: string): Promise<DialTarget[]> {
    return reachOfNumber(this.deps.services, this.deps.contacts, accountId, number);
  }

  /**
   * Resolves once the call is over and its charge settled. A call another node drives (with a shared node bus):
   * once it and its legs have ended, or when `signal` aborts.
   */
  async whenSettled(callId: string, signal?: AbortSignal): Promise<void> {
    const session = this.sessions.get(callId)?.session;
    if (session) return session.settled;
    if (this.deps.services.calls.bus.shared) await whenOverElsewhere(this.deps.services.calls, callId, (error) => this.deps.onError(error, `call ${callId}: is it over`), signal);
  }

  private newSession(init: ConstructorParameters<typeof CallSession>[1]): CallSession {
    const { services, engine, media, onError } = this.deps;
    return new CallSession(
      {
        services,
        engine,
        media,
        hook: async (accountId, applicationId, url, body) =>
          (applicationId
            ? await services.applications.hook(accountId, applicationId, body, url)
            : await services.applications.request(url, body, '')
          ).body,
        onError,
        plan: (accountId, targets, rungFor) => planLegs(services, this.deps.contacts, accountId, targets, rungFor),
        transferTarget: (accountId, request) => transferTarget(services, accountId, request),
      },
      init,
    );
  }

  /** Starts what the call runs: an application's program or its hook's answer, or an inline program. */
  private run(session: CallSession, application: ApplicationSpec | undefined, program: Program | undefined): Interpreter | undefined {
    if (application?.program) return this.runProgram(session, application.program);
    if (program) return this.runProgram(session, program);
    // The call hook is asked as a `redirect` to it would be: its answer is the call's program, its failure the
    // documented fallback (a hook_error, then hang-up), and a live program may replace it while it is asked.
    if (application?.callHook) return this.runProgram(session, [{ verb: 'redirect', actionHook: application.callHook }]);
    return undefined;
  }

  private runProgram(session: CallSession, program: Program): Interpreter {
    const interpreter = new Interpreter(session, { onError: (error) => this.deps.onError(error, `call ${session.callId}`) });
    // A transfer that handed the controlling leg to its target: the program goes on with the target.
    session.onHandOver(() => interpreter.handOver());
    void interpreter.run(program).catch((error: unknown) => this.deps.onError(error, `call ${session.callId}`));
    return interpreter;
  }
}

/** The keys each gather collected, read from the activities it stored. */
export function gatheredOf(activities: readonly CallActivity[]): Gathered[] {
  return activities
    .filter((activity) => activity.kind === 'gather')
    .map((activity) => ({
      digits: typeof activity.data.digits === 'string' ? activity.data.digits : '',
      reason: typeof activity.data.reason === 'string' ? activity.data.reason : 'unknown',
      at: activity.at,
    }));
}

/** The program a number's route stands for, when no application takes the call. */
function routeProgram(
  route: { extensionId: string | null; forwardTo: string | null; answer: boolean } | null | undefined,
  caller: string,
): Program | undefined {
  if (!route) return undefined;
  if (route.answer) return ANSWER_PROGRAM;
  const target: DialTarget[] = [
    ...(route.extensionId ? [{ type: 'extension' as const, extension: route.extensionId }] : []),
    ...(route.forwardTo ? [{ type: 'phone' as const, number: route.forwardTo }] : []),
  ];
  if (target.length === 0) return undefined;
  return [{ verb: 'dial', target, callerId: caller }];
}

