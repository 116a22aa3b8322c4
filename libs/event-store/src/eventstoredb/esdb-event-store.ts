/**
 * The EventStore port on EventStoreDB (or KurrentDB), through the gRPC client behind ./esdb-client.ts.
 *
 * Positions. EventStoreDB's `$all` position is a pair (commit, prepare) of byte offsets in its transaction log, not
 * 1, 2, 3. An append of n events is written as n prepare records in a row, each flagged IsCommitted (an implicit
 * transaction: no separate commit record), and `$all` reports every such event at (its own log offset, its own log
 * offset) — see AllReader in the server (EventStore/EventStore, src/EventStore.Core/Services/Storage/ReaderIndex).
 * The port's `position` is that log offset (the prepare position, equal to the commit position for these records):
 * - one number per event, strictly increasing in `$all` order, also between events of one append;
 * - SPARSE: gaps between consecutive events (their byte sizes, and system records in between) — never count events
 *   by subtracting positions;
 * - reading "after p" starts the server's read at (p, p), which is inclusive, and drops the event at p: `after` must
 *   be 0 or a position this store handed out (an arbitrary number is not a record boundary).
 * - an append's result position is the log offset of its last event (what the server answers: the TransactionEnd
 *   prepare's position; for an idempotent retry, the recognised last event's). Numbers stay exact up to 2^53 bytes.
 * Legacy explicit transactions (TCP only) could interleave prepares; this adapter never writes them.
 *
 * Appends. `appendToStream` with the exact expected revision (bigint) or NO_STREAM, the events' own (deterministic)
 * ids, and a deadline. A deadline that passes or a connection that drops leaves the outcome unknown: the same events
 * (same ids) are sent again, which the server's idempotency check recognises when the first attempt was written; if a
 * retry meets WrongExpectedVersion, the stream is read to see whether our ids are there (then it is our success) or
 * not (a real conflict). The caller is only ever told what the server confirmed. Every append is durable when
 * answered, so 'ordered' is 'durable' and whenDurable resolves at once.
 *
 * Event ids. The server recognises an id only where a retry would put it (its idempotency check), not across the
 * store: an id reused in another stream is accepted. Where the system relies on store-wide ids (a QuotaClaimed's id
 * is its buyer's Idempotency-Key: the same key in another sale must be refused; see the codec's
 * STORE_WIDE_ID_EVENT_TYPES), the adapter first claims the id with a guard: an `$IdGuard` event, naming the stream, in
 * a stream of the id's own (`id-guard-<id>`, NO_STREAM). A retry into the same stream meets its own guard (the same
 * guard id: the server's idempotency); another stream finds the guard taken: DuplicateEventId. Readers never see
 * guards ($-typed: left out like system events). One more write per such append, on this store only. A guard written
 * just before a crash still binds the id to its stream, with no event there yet: the same retry goes through, another
 * stream is refused, as it would be once the event is stored.
 *
 * `namespace` prefixes every stream name on the server and keeps this store's view of `$all` to those streams
 * (a server-side stream-name filter): several deployments, or test runs, can share one server. Without it the
 * store sees every non-system event (types and streams starting with `$` are left out, by a server-side filter
 * where the client supports one and by a check here in any case).
 */
import {
  AppendOptions,
  AppendResult,
  DuplicateEventId,
  EventData,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NO_STREAM,
  ReadAllOptions,
  RecordedEvent,
  Subscription,
  WrongExpectedRevision,
} from '../event-store.port';
import { assertAppendable } from '../idempotent-append';
import { STORE_WIDE_ID_EVENT_TYPES } from '../codec/domain-event-codec';
import { uuidV5In } from '../codec/uuid-v5';
import { LogPage, LogPageRequest, LogPayload, LogReader } from '../sqlite/sqlite-log-reader';
import { actualRevisionOf, ClientConnection, ClientEventData, ClientReadPosition, ClientRecordedEvent, commandErrorType, EsdbClientModule } from './client-module';

export interface EsdbEventStoreOptions {
  /** esdb://…, esdb+discover://…, kurrentdb://… (the client's connection string). */
  readonly url: string;
  /**
   * The client package (default: the one ./esdb-client.ts imports, loaded only then: the two packages register their
   * protobuf classes in one global namespace, so a process must load only one of them).
   */
  readonly client?: EsdbClientModule;
  /** Prefix of every stream name on the server; this store sees only its own streams. */
  readonly namespace?: string;
  /** gRPC deadline of every call but subscriptions, ms. Default 10 000. */
  readonly deadlineMs?: number;
  /** Attempts of an append whose outcome stays unknown (deadline, dropped connection), ms. Default 5. */
  readonly appendAttempts?: number;
  /** Pause before the first retry, doubled for each further one, ms. Default 100. */
  readonly retryDelayMs?: number;
  /** Pause before a dropped subscription subscribes again from its last position, ms. Default 500. */
  readonly resubscribeDelayMs?: number;
  /** Event types whose ids must be unique across the store (see the header). Default: the codec's STORE_WIDE_ID_EVENT_TYPES. */
  readonly storeWideIdTypes?: readonly string[];
}

/** An append whose every attempt ended without an answer: it may or may not be in the store. */
export class AppendOutcomeUnknown extends Error {
  constructor(
    readonly streamId: string,
    attempts: number,
    cause: unknown,
  ) {
    super(`append to ${streamId}: no answer after ${attempts} attempts with the same event ids; it may or may not be stored`, { cause });
    this.name = 'AppendOutcomeUnknown';
  }
}

/**
 * The server's definite refusals: the append was not written and a retry would be refused the same way. Any other
 * failure (deadline, unavailable, cancelled, a dropped connection, a failed reconnection, …) may come after the server
 * wrote it: an unknown outcome.
 */
const REFUSED = new Set([
  'access-denied',
  'invalid-argument',
  'invalid-transaction',
  'maximum-append-size-exceeded',
  'stream-deleted',
  'stream-tombstoned',
  'unsupported',
  'not-found',
  'stream-not-found',
]);

/** How long close() waits for the client to let go of its channel. */
const DISPOSE_TIMEOUT_MS = 2000;

const READ_PAGE = 1000;

const GUARD_TYPE = '$IdGuard';
const guardId = uuidV5In('2b7f3c9e-5d41-4a8e-b0f6-7c1e9d2a4f53');

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const positionOf = (event: ClientRecordedEvent): number => {
  if (event.position === undefined) throw new Error(`event ${event.id} of ${event.streamId} came without its $all position`);
  return Number(event.position.commit);
};

const readPosition = (after: number): ClientReadPosition => (after <= 0 ? 'start' : { commit: BigInt(after), prepare: BigInt(after) });

const assertDistinctIds = (events: readonly EventData[]): void => {
  const seen = new Set<string>();
  for (const event of events) {
    if (seen.has(event.eventId)) throw new DuplicateEventId(event.eventId);
    seen.add(event.eventId);
  }
};

export class EsdbEventStore implements EventStore, LogReader {
  /** Log offsets: see the header. */
  readonly densePositions = false;
  private readonly namespace: string;
  private readonly deadlineMs: number;
  private readonly appendAttempts: number;
  private readonly retryDelayMs: number;
  private readonly resubscribeDelayMs: number;
  private readonly storeWideIdTypes: ReadonlySet<string>;
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  private constructor(
    private readonly connection: ClientConnection,
    private readonly client: EsdbClientModule,
    options: EsdbEventStoreOptions,
  ) {
    this.namespace = options.namespace ?? '';
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.appendAttempts = Math.max(1, options.appendAttempts ?? 5);
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.resubscribeDelayMs = options.resubscribeDelayMs ?? 500;
    this.storeWideIdTypes = new Set(options.storeWideIdTypes ?? STORE_WIDE_ID_EVENT_TYPES);
  }

  /**
   * Connects and reads the head once, so that a malformed URL or a server that cannot be reached fails here (within
   * `probeDeadlineMs`, default 5 s), not at the first append.
   */
  static async connect(options: EsdbEventStoreOptions & { readonly probeDeadlineMs?: number }): Promise<EsdbEventStore> {
    if (options.namespace !== undefined && (options.namespace === '' || options.namespace.startsWith('$'))) {
      throw new TypeError(`namespace must be non-empty and must not start with $, got "${options.namespace}"`);
    }
    const client = options.client ?? (await import('./esdb-client')).esdbClient;
    let connection: ClientConnection;
    try {
      connection = client.connect(options.url);
    } catch (error) {
      throw new Error(`cannot use the EventStoreDB URL ${redactedEsdbUrl(options.url)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const store = new EsdbEventStore(connection, client, options);
    try {
      await store.headPosition(options.probeDeadlineMs ?? 5000);
    } catch (error) {
      await store.close();
      throw new Error(`cannot reach EventStoreDB at ${redactedEsdbUrl(options.url)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return store;
  }

  // ------------------------------------------------------------------------------------------------------------
  // append

  async append(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision, _options?: AppendOptions): Promise<AppendResult> {
    this.assertOpen();
    assertAppendable(events);
    assertDistinctIds(events);
    // Serialised now: the caller's objects may change once we return, and every retry must send the same bytes.
    const payload: ClientEventData[] = events.map((e) => ({
      id: e.eventId,
      contentType: 'application/json',
      type: e.type,
      data: structuredClone(e.data),
      metadata: structuredClone(e.metadata),
    }));
    for (const event of events) if (this.storeWideIdTypes.has(event.type)) await this.guard(streamId, event.eventId);
    return this.send(streamId, payload, expectedRevision);
  }

  /**
   * One append with the exact expected revision, retried with the same events while its outcome is unknown; the
   * result the server confirmed, WrongExpectedRevision, AppendOutcomeUnknown, or the server's refusal.
   */
  private async send(streamId: string, payload: ClientEventData[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    const expected = this.client.expectedRevisionOption(expectedRevision === NO_STREAM ? this.client.NO_STREAM : BigInt(expectedRevision));
    let uncertain = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.connection.appendToStream(this.serverName(streamId), payload, { ...expected, deadline: this.deadlineMs });
        const nextExpectedRevision = Number(result.nextExpectedRevision);
        const position = result.position !== undefined && result.position.commit >= 0n ? Number(result.position.commit) : await this.positionAt(streamId, nextExpectedRevision);
        return { nextExpectedRevision, position };
      } catch (error) {
        const type = commandErrorType(error);
        if (type === 'wrong-expected-version') {
          // After an unanswered attempt, "wrong version" may be our own first attempt, stored: look before calling it a conflict.
          const ours = uncertain ? await this.storedAppend(streamId, payload, expectedRevision) : undefined;
          if (ours !== undefined) return ours;
          const actual = actualRevisionOf(error);
          throw new WrongExpectedRevision(streamId, expectedRevision, actual === undefined || actual === 'no_stream' ? NO_STREAM : Number(actual));
        }
        if ((type !== undefined && REFUSED.has(type)) || this.closed) {
          if (uncertain) throw new AppendOutcomeUnknown(streamId, attempt, error);
          throw error;
        }
        uncertain = true;
        if (attempt >= this.appendAttempts) throw new AppendOutcomeUnknown(streamId, attempt, error);
        await delay(this.retryDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  /** Claims `eventId` for `streamId` across the store (see the header); DuplicateEventId when another stream has it. */
  private async guard(streamId: string, eventId: string): Promise<void> {
    const guardStream = `id-guard-${eventId}`;
    const payload: ClientEventData[] = [{ id: guardId(`${eventId}\n${streamId}`), contentType: 'application/json', type: GUARD_TYPE, data: { streamId }, metadata: {} }];
    try {
      await this.send(guardStream, payload, NO_STREAM);
    } catch (error) {
      if (!(error instanceof WrongExpectedRevision)) throw error;
      const [holder] = await this.readServerStream(guardStream, 0, 1);
      if ((holder?.data as { streamId?: unknown } | undefined)?.streamId !== streamId) throw new DuplicateEventId(eventId);
    }
  }

  /** The result of this append if its events are stored in the stream exactly where it would have put them. */
  private async storedAppend(streamId: string, events: readonly ClientEventData[], expected: ExpectedRevision): Promise<AppendResult | undefined> {
    const first = expected === NO_STREAM ? 0 : expected + 1;
    const stored = await this.readServerStream(streamId, first, events.length);
    if (stored.length < events.length) return undefined;
    if (!events.every((e, i) => stored[i]?.id === e.id)) return undefined;
    const last = stored[events.length - 1] as ClientRecordedEvent;
    return { nextExpectedRevision: Number(last.revision), position: positionOf(last) };
  }

  private async positionAt(streamId: string, revision: number): Promise<number> {
    const [event] = await this.readStream(streamId, revision, 1);
    if (event === undefined) throw new Error(`append to ${streamId} answered revision ${revision}, which cannot be read`);
    return event.position;
  }

  // ------------------------------------------------------------------------------------------------------------
  // reading

  async readStream(streamId: string, fromRevision = 0, maxCount?: number): Promise<RecordedEvent[]> {
    this.assertOpen();
    return (await this.readServerStream(streamId, fromRevision, maxCount)).filter((e) => !e.type.startsWith('$')).map((e) => this.recorded(e));
  }

  /** A stream as the server has it, $-typed events included; [] when it does not exist. */
  private async readServerStream(streamId: string, fromRevision: number, maxCount?: number): Promise<ClientRecordedEvent[]> {
    const events: ClientRecordedEvent[] = [];
    try {
      const read = this.connection.readStream(this.serverName(streamId), {
        fromRevision: BigInt(fromRevision),
        direction: this.client.FORWARDS,
        deadline: this.deadlineMs,
        ...(maxCount !== undefined ? { maxCount } : {}),
      });
      for await (const resolved of read) if (resolved.event !== undefined) events.push(resolved.event);
    } catch (error) {
      if (commandErrorType(error) === 'stream-not-found') return [];
      throw error;
    }
    return events;
  }

  async readAll({ after, maxCount }: ReadAllOptions): Promise<RecordedEvent[]> {
    this.assertOpen();
    const events: RecordedEvent[] = [];
    let from = after;
    while (events.length < maxCount) {
      // +1: a read from (p, p) starts with the event at p itself, which is not "after" it.
      const want = Math.min(maxCount - events.length, READ_PAGE) + 1;
      let read = 0;
      let last = from;
      for await (const resolved of this.connection.readAll({
        fromPosition: readPosition(from),
        direction: this.client.FORWARDS,
        maxCount: want,
        filter: this.serverFilter(),
        deadline: this.deadlineMs,
      })) {
        read++;
        const event = resolved.event;
        if (event === undefined) continue;
        const position = positionOf(event);
        if (position <= from) continue;
        last = position;
        // The page asked for no more than needed: it is read to its end (a call abandoned midway can hold up dispose()).
        if (this.owns(event) && events.length < maxCount) events.push(this.recorded(event));
      }
      // A short page is the end of the log; a page of only the start event cannot move on.
      if (read < want || last === from) break;
      from = last;
    }
    return events;
  }

  /** Position of this store's last event, 0 when it has none: `$all` read backwards to the first event it owns. */
  async headPosition(deadlineMs = this.deadlineMs): Promise<number> {
    this.assertOpen();
    let from: ClientReadPosition = this.client.END;
    // Small first: with a server-side filter the first event is the answer; without one, system events may come first.
    for (let page = 16; ; page = Math.min(page * 4, READ_PAGE)) {
      let read = 0;
      let last: number | undefined;
      let head: number | undefined;
      for await (const resolved of this.connection.readAll({
        fromPosition: from,
        direction: this.client.BACKWARDS,
        maxCount: page,
        filter: this.serverFilter(),
        deadline: deadlineMs,
      })) {
        read++;
        const event = resolved.event;
        if (event === undefined) continue;
        const position = positionOf(event);
        if (last !== undefined && position >= last) continue;
        last = position;
        if (head === undefined && this.owns(event)) head = position;
      }
      if (head !== undefined) return head;
      if (read < page || last === undefined) return 0;
      from = { commit: BigInt(last), prepare: BigInt(last) };
    }
  }

  /** Every EventStoreDB append is durable once answered. */
  whenDurable(_position: number): Promise<void> {
    return Promise.resolve();
  }

  // ------------------------------------------------------------------------------------------------------------
  // LogReader (the audit and projection CLIs)

  readPage(request: LogPageRequest): Promise<LogPage> {
    return this.readLog(request, (e) => ({ ...this.payload(e), streamId: e.streamId, revision: e.revision, eventId: e.eventId }));
  }

  readPayloads(request: LogPageRequest): Promise<LogPage<LogPayload>> {
    return this.readLog(request, (e) => this.payload(e));
  }

  private payload(e: RecordedEvent): LogPayload {
    const metadata = e.metadata as EventMetadata | null;
    const schemaVersion = metadata === null ? Number.NaN : typeof metadata.schemaVersion === 'number' ? metadata.schemaVersion : 1;
    return { position: e.position, type: e.type, data: e.data, schemaVersion, recordedAt: e.recordedAt };
  }

  private async readLog<E extends LogPayload>({ after, upTo, maxCount, types }: LogPageRequest, convert: (e: RecordedEvent) => E): Promise<LogPage<E>> {
    if (maxCount < 1) throw new RangeError('maxCount must be at least 1');
    if (upTo <= after) return { events: [], through: after };
    const page = await this.readAll({ after, maxCount });
    const within = page.filter((e) => e.position <= upTo);
    const wanted = types === undefined ? within : within.filter((e) => types.includes(e.type));
    const done = page.length < maxCount || within.length < page.length;
    return { events: wanted.map(convert), through: done ? upTo : (within.at(-1) as RecordedEvent).position };
  }

  // ------------------------------------------------------------------------------------------------------------
  // subscriptions

  /**
   * A catch-up subscription on the server (`subscribeToAll` from the checkpoint, with the same filter as reads).
   * Anything at or before the last delivered position is dropped, so whether the server starts at or after the
   * checkpoint, and a resubscription after a drop, can neither repeat nor skip an event.
   */
  subscribeToAll(after: number): Subscription {
    this.assertOpen();
    let closed = false;
    let last = after;
    let current: { subscription: ReturnType<ClientConnection['subscribeToAll']>; iterator: AsyncIterator<{ event?: ClientRecordedEvent }> } | undefined;
    let wakeClosed!: () => void;
    const whenClosed = new Promise<'closed'>((resolve) => (wakeClosed = () => resolve('closed')));
    const isClosed = (): boolean => closed;

    const drop = (): void => {
      const old = current;
      current = undefined;
      old?.subscription.unsubscribe().catch(() => undefined);
    };
    const open = (): NonNullable<typeof current> => {
      const subscription = this.connection.subscribeToAll({ fromPosition: readPosition(last), filter: this.serverFilter() });
      return { subscription, iterator: subscription[Symbol.asyncIterator]() };
    };

    const next = async (): Promise<IteratorResult<RecordedEvent>> => {
      while (!isClosed()) {
        current ??= open();
        let result: IteratorResult<{ event?: ClientRecordedEvent }> | 'closed';
        try {
          result = await Promise.race([current.iterator.next(), whenClosed]);
        } catch {
          result = { done: true, value: undefined };
        }
        if (result === 'closed') break;
        if (result.done === true) {
          // The server or the connection ended it: subscribe again from the last position seen.
          drop();
          if (!isClosed()) await Promise.race([delay(this.resubscribeDelayMs), whenClosed]);
          continue;
        }
        const event = result.value.event;
        if (event === undefined) continue;
        const position = positionOf(event);
        if (position <= last) continue;
        last = position;
        if (this.owns(event)) return { value: this.recorded(event), done: false };
      }
      return { value: undefined, done: true };
    };

    const subscription: Subscription = {
      close: () => {
        if (closed) return;
        closed = true;
        wakeClosed();
        drop();
        this.subscriptions.delete(subscription);
      },
      [Symbol.asyncIterator]: () => ({
        next,
        return: async () => {
          subscription.close();
          return { value: undefined, done: true };
        },
      }),
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const subscription of [...this.subscriptions]) subscription.close();
    // A client that cannot let go (a call the server never ends) must not hold a shutdown up.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.connection.dispose().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, DISPOSE_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  // ------------------------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error('the EventStoreDB event store is closed');
  }

  private serverName(streamId: string): string {
    return this.namespace + streamId;
  }

  private serverFilter(): unknown {
    return this.namespace !== '' ? this.client.streamNameFilter([this.namespace]) : this.client.excludeSystemEvents();
  }

  /** Whether an event of `$all` is one of this store's: not a system event, and in its namespace. */
  private owns(event: ClientRecordedEvent): boolean {
    return !event.type.startsWith('$') && !event.streamId.startsWith('$') && event.streamId.startsWith(this.namespace);
  }

  private recordedAt(created: Date | number): number {
    const ms = created instanceof Date ? created.getTime() : created;
    const precision = this.client.createdPrecisionMs;
    return precision > 1 ? ms - (ms % precision) : ms;
  }

  private recorded(event: ClientRecordedEvent): RecordedEvent {
    return {
      eventId: event.id,
      type: event.type,
      data: event.data as Record<string, unknown>,
      metadata: event.metadata as EventMetadata,
      streamId: event.streamId.slice(this.namespace.length),
      revision: Number(event.revision),
      position: positionOf(event),
      recordedAt: this.recordedAt(event.created),
    };
  }
}

/** The URL without its credentials, for messages. */
export const redactedEsdbUrl = (url: string): string => url.replace(/\/\/[^@/]*@/, '//***@');

