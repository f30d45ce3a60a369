import { DialplaneError } from '../../errors.js';
import type { CallEventInput } from '../../store/calls-repository.js';
import type { CallRow } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import type { Db } from '../../store/database.js';
import { isoNow, type Clock } from '../clock.js';
import { newId } from '../ids.js';
import { isOrphaned, type NodeLiveness } from '../node-lease.js';
import { localNodeBus, type NodeBus } from '../../shared-state/node-bus.js';
import type { WebhookService } from '../webhooks.js';
import { applicationEndpointFilter } from '../applications.js';
import { legCharge, legCost } from './minute-reserve.js';
import { canTransition, type CallEvent, type CallState } from './call-state.js';
import { CallUpdatesRelay } from './call-updates-relay.js';
import { resultForEnd, resultForSipStatus, type CallOutcome, type EndReason, type HangupCause } from './hangup-causes.js';

export interface Call {
  readonly id: string;
  readonly accountId: string;
  readonly direction: 'outbound' | 'inbound';
  readonly from: string;
  readonly to: string;
  readonly state: CallState;
  readonly outcome: CallOutcome | null;
  readonly hangupCause: HangupCause | null;
  readonly endReason: EndReason | null;
  readonly sipStatus: number | null;
  readonly sipReason: string | null;
  readonly trunk: string | null;
  readonly sipCallId: string | null;
  readonly ringTimeoutS: number;
  readonly maxDurationS: number;
  readonly metadata: Record<string, unknown> | null;
  readonly parentCallId: string | null;
  readonly createdAt: string;
  /** When the leg last changed: stored, or moved to a new state. */
  readonly updatedAt: string;
  readonly answeredAt: string | null;
  readonly endedAt: string | null;
  /** Per started minute, in minor units; null when the leg is not billed (a registered device). */
  readonly priceMinor: number | null;
  /** What the leg was charged, once it has ended and been settled. */
  readonly costMinor: number | null;
  readonly applicationId: string | null;
}

/** Something a call's program did, stored with the call: keys collected, a dial's outcome, a recording, a hook error. */
export interface CallActivity {
  readonly callId: string;
  readonly kind: string;
  readonly data: Record<string, unknown>;
  readonly at: string;
}

export interface Recording {
  readonly id: string;
  readonly callId: string;
  readonly durationMs: number;
  readonly createdAt: string;
}

/** What a watcher of one call hears: each state change after it is stored, and each activity. */
export type CallUpdate =
  | { readonly type: 'event'; readonly event: CallEvent; readonly call: Call }
  | { readonly type: 'activity'; readonly activity: CallActivity };

export interface CreateCallInput {
  /** The id to store it under (a call whose credits were reserved before its first leg existed); new otherwise. */
  readonly id?: string;
  /** An outbound call about to be dialled is stored with its `queued` and `dialing` events in one write. */
  readonly dialing?: { readonly trunk: string };
  readonly accountId: string;
  readonly direction: 'outbound' | 'inbound';
  readonly from: string;
  readonly to: string;
  readonly ringTimeoutS: number;
  readonly maxDurationS: number;
  readonly metadata?: Record<string, unknown> | null;
  readonly parentCallId?: string | null;
  readonly priceMinor?: number | null;
  readonly applicationId?: string | null;
  /** Written in the same transaction as the call (its first minute's credit hold): refused, no call is stored. */
  readonly inTransaction?: (trx: Db) => Promise<void>;
}

export interface SipDetail {
  readonly sipStatus?: number;
  readonly sipReason?: string;
}

export interface EndInput extends SipDetail {
  readonly reason: EndReason;
}

/** The SIP particulars of a call, written along with its next state change. */
export interface SipDetails {
  readonly trunk?: string;
  readonly sipCallId?: string;
}

function detailColumns(details: SipDetails): { trunk?: string; sip_call_id?: string } {
  return {
    ...(details.trunk !== undefined ? { trunk: details.trunk } : {}),
    ...(details.sipCallId !== undefined ? { sip_call_id: details.sipCallId } : {}),
  };
}

export type CallWatcher = (update: CallUpdate) => void;

const LIVE_STATES: readonly CallState[] = ['queued', 'dialing', 'ringing', 'early_media', 'answered'];

/**
 * Calls and their event history. Every state change is persisted with its event in one write, and only along the
 * state machine's edges; the watchers of a call (its controller, a live event stream) hear each event after it is
 * stored. There is no listener to every call: each watches the calls it cares about. With a shared node bus, every
 * update is also relayed (CallUpdatesRelay), and the watchers on other nodes hear it as the node that wrote it does.
 */
export class CallService {
  private readonly watchers = new Map<string, Set<CallWatcher>>();
  /** Watchers of every leg of a call, by the call's id (a leg's `parentCallId`). */
  private readonly legWatchers = new Map<string, Set<CallWatcher>>();
  private readonly relay: CallUpdatesRelay;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly onListenerError: (error: unknown) => void = () => undefined,
    private readonly webhooks?: WebhookService,
    /** This node: it owns the calls it creates, and recovers only those of nodes that are gone. */
    private readonly node?: NodeLiveness,
    /** Where updates go to other nodes' watchers, and come from theirs. */
    readonly bus: NodeBus = localNodeBus,
  ) {
    this.relay = new CallUpdatesRelay(bus, (callId, update) => this.deliver(callId, update));
  }

  /** Hears one call's updates until the returned function is called. */
  watch(callId: string, watcher: CallWatcher): () => void {
    return subscribe(this.watchers, callId, watcher);
  }

  /** Hears the state events of every leg of a call (the calls whose parent it is) until the returned function is called. */
  watchLegs(callId: string, watcher: CallWatcher): () => void {
    return subscribe(this.legWatchers, callId, watcher);
  }

  /** Whether a call and every leg of it have ended; true for a call that does not exist. */
  async isOver(callId: string): Promise<boolean> {
    const row = await this.store.calls.findAny(callId);
    if (!row) return true;
    if (row.state !== 'ended') return false;
    return (await this.store.calls.children(row.account_id, callId)).every((leg) => leg.state === 'ended');
  }

  /** Stores what a call's program did and tells the call's watchers. */
  async activity(callId: string, kind: string, data: Record<string, unknown>): Promise<CallActivity> {
    const at = isoNow(this.clock);
    await this.store.calls.addActivity({ call_id: callId, kind, data: JSON.stringify(data), at });
    const activity = { callId, kind, data, at };
    this.notify(callId, { type: 'activity', activity });
    return activity;
  }

  /** The activities of a call and its legs, oldest first. */
  async activities(accountId: string, callId: string): Promise<CallActivity[]> {
    const legs = await this.legs(accountId, callId);
    const rows = await this.store.calls.activities([callId, ...legs.map((leg) => leg.id)]);
    return rows.map((row) => ({ callId: row.call_id, kind: row.kind, data: JSON.parse(row.data) as Record<string, unknown>, at: row.at }));
  }

  async addRecording(accountId: string, callId: string, durationMs: number, wav: Buffer): Promise<Recording> {
    const row = { id: newId('rec'), account_id: accountId, call_id: callId, duration_ms: durationMs, wav, created_at: isoNow(this.clock) };
    await this.store.calls.addRecording(row);
    return { id: row.id, callId, durationMs, createdAt: row.created_at };
  }

  async recordings(accountId: string, callIds: readonly string[]): Promise<Recording[]> {
    return (await this.store.calls.recordings(accountId, callIds)).map((row) => ({
      id: row.id,
      callId: row.call_id,
      durationMs: Number(row.duration_ms),
      createdAt: row.created_at,
    }));
  }

  /** A stored recording's WAV; another account's is not_found. */
  async recordingWav(accountId: string, recordingId: string): Promise<Buffer> {
    const row = await this.store.calls.recording(accountId, recordingId);
    if (!row) throw new DialplaneError('not_found', 'recording not found');
    return Buffer.from(row.wav);
  }

  async create(input: CreateCallInput): Promise<Call> {
    const now = isoNow(this.clock);
    const row: CallRow = {
      id: input.id ?? newId('call'),
      account_id: input.accountId,
      direction: input.direction,
      from_number: input.from,
      to_number: input.to,
      state: input.dialing ? 'dialing' : 'queued',
      outcome: null,
      hangup_cause: null,
      hangup_cause_code: null,
      end_reason: null,
      sip_status: null,
      sip_reason: null,
      trunk: input.dialing?.trunk ?? null,
      sip_call_id: null,
      ring_timeout_s: input.ringTimeoutS,
      max_duration_s: input.maxDurationS,
      metadata: input.metadata ? JSON.stringify(input.metadata) : null,
      parent_call_id: input.parentCallId ?? null,
      owner_node: this.node?.nodeId ?? null,
      created_at: now,
      updated_at: now,
      answered_at: null,
      ended_at: null,
      price_minor: input.priceMinor ?? null,
      cost_minor: null,
      application_id: input.applicationId ?? null,
    };
    const events = [eventRow(row.id, 'queued', now, {}), ...(input.dialing ? [eventRow(row.id, 'dialing', now, {})] : [])];
    const call = toCall(row);
    const queued = await this.store.calls.insert(row, events, async (trx) => {
      await input.inTransaction?.(trx);
      return this.enqueueWebhooks(trx, call, events);
    });
    if (queued) this.webhooks?.notify();
    for (const event of events) this.emit(toEvent(event), call);
    return call;
  }

  /** Moves a live call forward (dialing, ringing, early_media, answered); undefined if that step is not allowed now. */
  async advance(
    callId: string,
    to: Exclude<CallState, 'queued' | 'ended'>,
    sip: SipDetail = {},
    details: SipDetails = {},
  ): Promise<Call | undefined> {
    const from = LIVE_STATES.filter((state) => canTransition(state, to));
    const now = isoNow(this.clock);
    const event = eventRow(callId, to, now, sip);
    let queued = 0;
    let call: Call | undefined;
    const row = await this.store.calls.transition(
      callId,
      from,
      {
        state: to,
        updated_at: now,
        ...(to === 'answered' ? { answered_at: now } : {}),
        ...(sip.sipStatus !== undefined ? { sip_status: sip.sipStatus } : {}),
        ...(sip.sipReason !== undefined ? { sip_reason: sip.sipReason } : {}),
        ...detailColumns(details),
      },
      event,
      async (trx, updated) => {
        call = toCall(updated);
        queued = await this.enqueueWebhooks(trx, call, [event]);
      },
    );
    if (!row) return undefined;
    if (queued) this.webhooks?.notify();
    call ??= toCall(row);
    this.emit(toEvent(event), call);
    return call;
  }

  /**
   * Ends a call once, with the outcome and Q.850 cause from the one mapping table: a SIP failure status when the
   * far end refused, otherwise the reason it ended. Ending an ended call changes nothing and returns undefined.
   */
  async end(
    callId: string,
    input: EndInput,
    known?: { readonly state: CallState; readonly answeredAt?: string | null; readonly priceMinor?: number | null },
    details: SipDetails = {},
    /** Written with the end (the call's charge, when this was its last leg). */
    inTransaction?: (trx: Db, ended: Call) => Promise<void>,
  ): Promise<Call | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      // The call's one writer (the engine) knows the state; anyone else reads it.
      const state = attempt === 0 && known ? known.state : (await this.store.calls.findAny(callId))?.state;
      if (state === undefined || state === 'ended') return undefined;
      const answered = state === 'answered';
      const { outcome, cause } =
        input.reason === 'sip_failure' && input.sipStatus !== undefined && !answered
          ? resultForSipStatus(input.sipStatus)
          : resultForEnd(input.reason, answered);
      const now = isoNow(this.clock);
      const event: CallEventInput = {
        ...eventRow(callId, 'ended', now, input),
        outcome,
        hangup_cause: cause.name,
        hangup_cause_code: cause.code,
        end_reason: input.reason,
      };
      let queued = 0;
      const knownCost =
        attempt === 0 && known && known.answeredAt !== undefined && known.priceMinor !== undefined
          ? legCost(known.answeredAt, now, known.priceMinor)
          : undefined;
      let costMinor = knownCost ?? 0;
      let ended: Call | undefined;
      const row = await this.store.calls.transition(
        callId,
        [state],
        {
          ...detailColumns(details),
          state: 'ended',
          outcome,
          hangup_cause: cause.name,
          hangup_cause_code: cause.code,
          end_reason: input.reason,
          updated_at: now,
          ended_at: now,
          ...(knownCost !== undefined ? { cost_minor: knownCost } : {}),
          ...(input.sipStatus !== undefined ? { sip_status: input.sipStatus } : {}),
          ...(input.sipReason !== undefined ? { sip_reason: input.sipReason } : {}),
        },
        event,
        async (trx, updated) => {
          // What the leg cost (started minutes times its price; a leg not billed costs nothing) is stored with its end:
          // in the end's own UPDATE when the engine knew its answer time, else computed from the row now.
          const updatedCall = toCall(updated);
          if (knownCost === undefined) {
            costMinor = updated.price_minor === null ? 0 : legCharge(updatedCall, Number(updated.price_minor));
            await this.store.calls.setCost(trx, callId, costMinor);
          }
          ended = { ...updatedCall, costMinor };
          await inTransaction?.(trx, ended);
          queued = await this.enqueueWebhooks(trx, ended, [event]);
        },
      );
      if (row) {
        if (queued) this.webhooks?.notify();
        const call = ended ?? { ...toCall(row), costMinor };
        this.emit(toEvent(event), call);
        return call;
      }
      // The state moved under us (a 200 raced our CANCEL): read again and end from the new state.
    }
    return undefined;
  }

  async get(accountId: string, callId: string): Promise<Call> {
    const row = await this.store.calls.findById(accountId, callId);
    if (!row) throw new DialplaneError('not_found', 'call not found');
    return toCall(row);
  }

  async list(accountId: string, limit = 50, before?: { createdAt: string; id: string }): Promise<Call[]> {
    return (await this.store.calls.list(accountId, limit, before)).map(toCall);
  }

  async legs(accountId: string, callId: string): Promise<Call[]> {
    return (await this.store.calls.children(accountId, callId)).map(toCall);
  }

  async listTop(accountId: string, limit = 50, before?: { createdAt: string; id: string }): Promise<Call[]> {
    return (await this.store.calls.listTop(accountId, limit, before)).map(toCall);
  }

  async events(accountId: string, callId: string): Promise<CallEvent[]> {
    await this.get(accountId, callId);
    return (await this.store.calls.events(callId)).map(toEvent);
  }

  /**
   * At start: live calls whose node is gone (its lease ran out), that no node owns, or that a previous run under
   * this node's id left, are ended (crash_recovery) with their final event. Another live node's calls are not touched.
   */
  async recoverUnfinished(): Promise<Call[]> {
    return this.recover(true);
  }

  /** The periodic sweep: live calls of other nodes whose lease has run out since are ended (crash_recovery). */
  async recoverOrphaned(): Promise<Call[]> {
    return this.recover(false);
  }

  /** The node that drives a call (null: stored before nodes had leases); undefined when there is no such call. */
  async ownerOf(callId: string): Promise<string | null | undefined> {
    return (await this.store.calls.findAny(callId))?.owner_node;
  }

  /**
   * For commands on a live call (hang up, a new program): only the node driving it can carry them out. Refused with
   * call_owned_elsewhere (409) naming that node when it is another; not_found when the account has no such call.
   */
  async assertOwnedHere(accountId: string, callId: string): Promise<Call> {
    const row = await this.store.calls.findById(accountId, callId);
    if (!row) throw new DialplaneError('not_found', 'call not found');
    const owner = row.owner_node;
    if (row.state !== 'ended' && this.node && owner !== null && owner !== this.node.nodeId) {
      throw new DialplaneError('call_owned_elsewhere', `call ${callId} is driven by node ${owner}, not by this one (${this.node.nodeId})`, {
        owner_node: owner,
        node: this.node.nodeId,
      });
    }
    return toCall(row);
  }

  private async recover(atStart: boolean): Promise<Call[]> {
    // Calls first, then the nodes alive: a call read here was stored by a node registered before it, so a node
    // alive now is in the second read whatever started in between.
    const rows = await this.store.calls.unfinished();
    if (rows.length === 0) return [];
    const node = this.node;
    if (!node && !atStart) return [];
    const live = node ? await node.liveNodes() : new Set<string>();
    const ended: Call[] = [];
    for (const row of rows) {
      if (node && !isOrphaned(row.owner_node, node.nodeId, live, atStart)) continue;
      const call = await this.end(row.id, { reason: 'crash_recovery' });
      if (call) ended.push(call);
    }
    return ended;
  }

  /** One `call.<state>` webhook event per stored call event, written in the same transaction. */
  private async enqueueWebhooks(trx: Db, call: Call, events: readonly CallEventInput[]): Promise<number> {
    // Most calls of most accounts go to no endpoint: nothing is built for them.
    if (!this.webhooks || !(await this.webhooks.hasEndpoints(trx, call.accountId))) return 0;
    let count = 0;
    for (const row of events) {
      const event = toEvent(row);
      const data = callWebhookData(call, event);
      // An application's status hook hears its own calls only; the account's endpoints hear every call.
      count += await this.webhooks.enqueue(
        trx,
        this.webhooks.event(call.accountId, `call.${event.state}`, data, event.at),
        applicationEndpointFilter(call.applicationId),
      );
    }
    return count;
  }

  private emit(event: CallEvent, call: Call): void {
    this.notify(call.id, { type: 'event', event, call });
  }

  /** An update written here: this node's watchers hear it, and through the bus every other node's. */
  private notify(callId: string, update: CallUpdate): void {
    this.relay.publish(callId, update);
    this.deliver(callId, update);
  }

  private deliver(callId: string, update: CallUpdate): void {
    const parent = update.type === 'event' ? update.call.parentCallId : null;
    for (const watcher of [...(this.watchers.get(callId) ?? []), ...(parent ? (this.legWatchers.get(parent) ?? []) : [])]) {
      try {
        watcher(update);
      } catch (error) {
        // A watcher (user-facing code) must never break the call path.
        this.onListenerError(error);
      }
    }
  }
}

function subscribe(map: Map<string, Set<CallWatcher>>, callId: string, watcher: CallWatcher): () => void {
  let set = map.get(callId);
  if (!set) map.set(callId, (set = new Set()));
  set.add(watcher);
  return () => {
    set.delete(watcher);
    if (set.size === 0 && map.get(callId) === set) map.delete(callId);
  };
}

/** A call event as webhook data: the call as it is after the event, and the event's own particulars. */
export function callWebhookData(call: Call, event: CallEvent): Record<string, unknown> {
  return {
    call_id: call.id,
    direction: call.direction,
    from: call.from,
    to: call.to,
    state: event.state,
    at: event.at,
    sip_status: event.sipStatus ?? null,
    sip_reason: event.sipReason ?? null,
    outcome: event.outcome ?? null,
    hangup_cause: event.cause?.name ?? null,
    hangup_cause_code: event.cause?.code ?? null,
    end_reason: event.endReason ?? null,
    created_at: call.createdAt,
    answered_at: call.answeredAt,
    ended_at: call.endedAt,
    metadata: call.metadata,
  };
}

function eventRow(callId: string, state: CallState, at: string, sip: SipDetail): CallEventInput {
  return {
    call_id: callId,
    state,
    at,
    sip_status: sip.sipStatus ?? null,
    sip_reason: sip.sipReason ?? null,
    outcome: null,
    hangup_cause: null,
    hangup_cause_code: null,
    end_reason: null,
  };
}

function toEvent(row: CallEventInput): CallEvent {
  return {
    callId: row.call_id,
    state: row.state,
    at: row.at,
    ...(row.sip_status !== null ? { sipStatus: row.sip_status } : {}),
    ...(row.sip_reason !== null ? { sipReason: row.sip_reason } : {}),
    ...(row.outcome !== null ? { outcome: row.outcome as CallOutcome } : {}),
    ...(row.hangup_cause !== null && row.hangup_cause_code !== null
      ? { cause: { name: row.hangup_cause, code: row.hangup_cause_code } }
      : {}),
    ...(row.end_reason !== null ? { endReason: row.end_reason as EndReason } : {}),
  };
}

export function toCall(row: CallRow): Call {
  return {
    id: row.id,
    accountId: row.account_id,
    direction: row.direction,
    from: row.from_number,
    to: row.to_number,
    state: row.state,
    outcome: row.outcome as CallOutcome | null,
    hangupCause:
      row.hangup_cause !== null && row.hangup_cause_code !== null
        ? { name: row.hangup_cause, code: Number(row.hangup_cause_code) }
        : null,
    endReason: row.end_reason as EndReason | null,
    sipStatus: row.sip_status === null ? null : Number(row.sip_status),
    sipReason: row.sip_reason,
    trunk: row.trunk,
    sipCallId: row.sip_call_id,
    ringTimeoutS: Number(row.ring_timeout_s),
    maxDurationS: Number(row.max_duration_s),
    metadata: row.metadata ? (JSON.parse(row.metadata) as Record<string, unknown>) : null,
    parentCallId: row.parent_call_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    answeredAt: row.answered_at,
    endedAt: row.ended_at,
    priceMinor: row.price_minor === null ? null : Number(row.price_minor),
    costMinor: row.cost_minor === null ? null : Number(row.cost_minor),
    applicationId: row.application_id,
  };
}
