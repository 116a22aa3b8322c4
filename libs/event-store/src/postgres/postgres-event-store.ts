import { createHash } from 'node:crypto';
import { Client, Pool, PoolClient, QueryConfig } from 'pg';
import { assertAppendable, recognisedRetry, StoredEventRef } from '../idempotent-append';
import { AppendSignal, catchUpSubscription } from '../catch-up-subscription';
import { clientSocket, coalesceWrites } from './coalesced-writes';
import {
  AppendOptions,
  AppendResult,
  DuplicateEventId,
  EventData,
  EventStore,
  ExpectedRevision,
  NO_STREAM,
  ReadAllOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
  WrongExpectedRevision,
} from '../event-store.port';
import type { LogPage, LogPageRequest, LogPayload, LogReader } from '../sqlite/sqlite-log-reader';

export interface PostgresEventStoreOptions {
  /** Schema holding the store's tables, created if missing. Default `public`; tests give each store its own. */
  readonly schema?: string;
  /** How often a subscriber reads anyway, should a notification be lost (LISTEN/NOTIFY is the live path). */
  readonly pollMs?: number;
  /** At the head, a subscriber reads at most once per this many ms (catchUpSubscription's followEveryMs). Default 0. */
  readonly followEveryMs?: number;
  /** Connecting (TCP, TLS, authentication) gives up after this. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** The deadline of every statement, on the server and on the client. Default 10000. */
  readonly statementTimeoutMs?: number;
  /** Connections for reads and the writer's transactions (the listener has one more). Default 10. */
  readonly poolSize?: number;
  /** Shown in pg_stat_activity; the listener's connection gets the same name with `-listener`. */
  readonly applicationName?: string;
  readonly now?: () => number;
  /**
   * Read-only (the audit, the projections CLI): every session is read-only on the server, nothing is created, and a
   * database without the store's tables is refused instead of initialised.
   */
  readonly readonly?: boolean;
}

interface PendingAppend {
  readonly streamId: string;
  readonly events: readonly EventData[];
  readonly expected: ExpectedRevision;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

interface PendingStreamRead {
  readonly streamId: string;
  readonly fromRevision: number;
  readonly resolve: (events: RecordedEvent[]) => void;
  readonly reject: (e: unknown) => void;
}

/** At most this many stream reads in one statement (a longer turn sends several). */
const MAX_STREAM_READS_PER_STATEMENT = 256;

/** What one append of a batch came to inside the transaction; writes count only once the COMMIT succeeds. */
type Outcome = { readonly wrote: boolean; readonly result: AppendResult } | { readonly error: unknown };

interface EventRow {
  position: string;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: RecordedEvent['metadata'];
  recorded_at: string;
}

/**
 * A row of readAllPayloadsOf, a read that asked for some types' payloads only: the others' data and metadata are NULL,
 * and `whole` says the type was asked for, so that its payload is the stored one, whatever it holds.
 */
type FollowRow = Omit<EventRow, 'data' | 'metadata'> & { data: EventRow['data'] | null; metadata: EventRow['metadata'] | null; schema_version: number; whole: boolean };

/** What an event read without its payload carries as data (SubscribeOptions.payloadOf). */
const NO_DATA: Readonly<Record<string, never>> = Object.freeze({});
/** And as metadata, its schema version alone (the column the append stored): one frozen object per version. */
const bareMetadata = new Map<number, EventRow['metadata']>();
const metadataOf = (schemaVersion: number): EventRow['metadata'] => {
  let metadata = bareMetadata.get(schemaVersion);
  if (metadata === undefined) bareMetadata.set(schemaVersion, (metadata = Object.freeze({ schemaVersion })));
  return metadata;
};

/** What the batch statement says of one append: written (its last position), or refused with the state that refused it. */
interface BatchRow {
  idx: number;
  current: number;
  last_position: string | null;
  stored: Array<{ eventId: string; streamId: string; revision: number; position: number }> | null;
}

interface LogRow extends Omit<EventRow, 'metadata'> {
  metadata_kind: string;
  schema_version: unknown;
}

/**
 * The fallback path commits each append in a SAVEPOINT of its own; savepoints are subtransactions: past 64 in one
 * transaction (PGPROC_MAX_CACHED_SUBXIDS) every other session's snapshots overflow to pg_subtrans.
 */
const MAX_APPENDS_PER_SAVEPOINT_TRANSACTION = 64;
/** The appending connection's session: plans made once and kept, by index whatever the table's size then (see connect). */
const WRITER_SESSION = '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c jit=off';
/** Appends (and events) one batch statement takes at most: a bound on the statement's size and its answer's wait. */
const MAX_APPENDS_PER_BATCH = 512;
const MAX_EVENTS_PER_BATCH = 4096;

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONNECTION_LOSS = /^(08|57P0)/;

/** A redacted URL for messages: never the password. */
export const redactedUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
};

/** pg's connection errors can be an AggregateError with an empty message (one attempt per address of localhost). */
const describeError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const inner = error instanceof AggregateError ? error.errors.map(describeError).join('; ') : '';
  return [error.message, inner, typeof code === 'string' && !error.message.includes(code) ? code : ''].filter((s) => s !== '').join(' — ') || error.name;
};

/** The connection went away (server restart, terminated backend, network): a read may simply be tried again. */
const isConnectionLoss = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_LOSS.test(code) || code.startsWith('E'))) return true;
  return error instanceof Error && /Connection terminated|connection timeout|Query read timeout/i.test(error.message);
};

/** An error the server reported for a statement (it has a SQLSTATE and a severity), the session still usable. */
const isServerError = (error: unknown): boolean => {
  const e = error as { code?: unknown; severity?: unknown };
  return typeof e.code === 'string' && typeof e.severity === 'string' && !CONNECTION_LOSS.test(e.code);
};

const constraintOf = (error: unknown): string | undefined => {
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && typeof e.constraint === 'string' ? e.constraint : undefined;
};

const toRecorded = (r: EventRow): RecordedEvent => {
  Object.freeze(r.data);
  Object.freeze(r.metadata);
  return Object.freeze({
    eventId: r.event_id,
    type: r.type,
    data: r.data,
    metadata: r.metadata,
    streamId: r.stream_id,
    revision: r.revision,
    position: Number(r.position),
    recordedAt: Number(r.recorded_at),
  });
};

/** A stable 64-bit advisory lock key for the schema's DDL, as the signed decimal PostgreSQL's bigint takes. */
const schemaLockKey = (schema: string): string => createHash('sha256').update(`flash-event-store:${schema}`).digest().readBigInt64BE(0).toString();

/**
 * The PostgreSQL event store: one `events` table in a total order of positions, shared by any number of processes.
 *
 * No gap, ever (a reader must never pass a position that a slower transaction may still fill): positions come from
 * the one-row `head` table, whose row lock the appending transaction takes first and holds until COMMIT, so the next
 * appending transaction (of this process or another) gets its positions only once the previous one is committed and
 * visible: positions become visible in their order, and a reader's snapshot always holds a prefix of the log. The
 * same row keeps positions contiguous: only the appends actually inserted move it. The price is that appending transactions are serialised store-wide,
 * which group commit (below) amortises. (The other way, sequence positions with an xid8 high-water mark per row so
 * that readAll never passes an in-flight transaction, leaves holes that the contract's contiguous positions forbid.)
 *
 * Group commit: appends requested while a transaction is in flight are queued and committed together in the next
 * one (any streams), in one round trip on a pipelined connection of the writer's own (so it never queues behind
 * reads): BEGIN, the head row's lock, one statement that takes the whole batch as one JSON document, and COMMIT. The
 * statement reads every append's stream revision and stored ids after the lock, so no other appender can slip in
 * before the insert; it inserts the appends that hold, with contiguous positions in batch order, and leaves a refused
 * one (wrong revision, an id stored elsewhere, a retry of something stored) out alone, returning what refused it. A
 * batch holds distinct streams and ids only: an append that shares either with an earlier queued one goes into the
 * next transaction, so each stream's appends commit in the order they were made. Every append is answered after its
 * COMMIT (synchronous_commit on: flushed to the WAL), so 'ordered' appends are durable too and whenDurable resolves
 * at once. Should the server refuse the statement itself (a value jsonb cannot hold), the batch is committed again
 * the old way, each append in a SAVEPOINT of its own, so that the one at fault fails alone.
 *
 * Optimistic concurrency: a retried append (its ids stored in this stream at exactly the revisions it would give them)
 * is answered with the original result (`recognisedRetry`), maybe stored by another process; otherwise a wrong
 * expected revision is WrongExpectedRevision and an id stored elsewhere DuplicateEventId. The unique constraints on
 * (stream_id, revision) and event_id stay the last guard (the savepoint path maps them to the same refusals).
 *
 * Live subscriptions: the appending transaction NOTIFYs; a dedicated LISTEN connection only wakes the readers, which
 * read by position, with a poll as the fallback. A lost listener reconnects (backing off) and wakes every reader
 * once it listens again, so whatever was appended while it was away is read then.
 */
export class PostgresEventStore implements EventStore, LogReader {
  /** Positions are 1, 2, 3, … with no gap. */
  readonly densePositions = true;
  private readonly appended = new AppendSignal();
  private readonly subscriptions = new Set<Subscription>();
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly sql: ReturnType<typeof statements>;
  private readonly channel: string;
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  private streamReads: PendingStreamRead[] = [];
  private streamReadsScheduled = false;
  private writing: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private listener: Client | undefined;
  private listenerWanted = false;
  private listenerRetryMs = 0;
  private listenerTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pool: Pool,
    /** The appending transactions' own connection, pipelined: a batch is one round trip and never queues behind reads. */
    private readonly writer: Pool,
    private readonly url: string,
    private readonly options: Required<Pick<PostgresEventStoreOptions, 'schema' | 'connectTimeoutMs' | 'applicationName'>> & PostgresEventStoreOptions,
  ) {
    this.pollMs = options.pollMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.sql = statements(options.schema);
    this.channel = `flash_es_${options.schema}`;
  }

  /**
   * Connects, creates the schema if it is missing, and returns the store; fails within about `connectTimeoutMs` with a
   * message naming the (redacted) URL when the server cannot be reached or refuses.
   */
  static async connect(url: string, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const schema = options.schema ?? 'public';
    if (!IDENTIFIER.test(schema)) throw new TypeError(`schema must match ${String(IDENTIFIER)}, got "${schema}"`);
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
    const applicationName = options.applicationName ?? 'flash-event-store';
    let pool: Pool;
    let writer: Pool;
    try {
      const session = {
        connectionString: url,
        connectionTimeoutMillis: connectTimeoutMs,
        statement_timeout: statementTimeoutMs,
        // The client's own deadline, a little later than the server's: for a server that no longer answers at all.
        query_timeout: statementTimeoutMs + 2000,
        // A process that hangs inside a transaction must not hold the head lock (and every other appender) for long.
        idle_in_transaction_session_timeout: Math.max(statementTimeoutMs, 30_000),
        application_name: applicationName,
        keepAlive: true,
        ...(options.readonly ? { options: '-c default_transaction_read_only=on' } : {}),
      };
      pool = new Pool({ ...session, max: options.poolSize ?? 10 });
      // The batch append is planned once per connection (a generic plan): planning it took as long as running it, 0.4 ms
      // of every transaction, under the head lock. Every lookup it makes is by an index, and the plan must keep it so
      // however young the table was when the plan was made: a generic plan costed on a tiny table, or on one analysed
      // while empty, reads the event ids by a sequential scan, and kept as the table grows that scan became 8 ms of every
      // transaction at 35,000 rows (measured). So the writer's session rules sequential scans out (each statement it
      // runs looks rows up by key; the one-row head table is still scanned), and JIT with them: that rule's cost
      // penalty would otherwise pass jit_above_cost and compile every plan (0.6 s an execution, measured).
      writer = new Pool({ ...session, max: 1, pipeline: true, options: [session.options, WRITER_SESSION].filter(Boolean).join(' ') });
    } catch (error) {
      throw new Error(`cannot use the PostgreSQL event store URL ${redactedUrl(url)}: ${describeError(error)}`, { cause: error });
    }
    // An idle pooled connection that dies (server restart, terminated backend) is dropped and replaced on demand.
    pool.on('error', () => undefined);
    writer.on('error', () => undefined);
    // The appending transaction's four pipelined statements in one write (see coalesced-writes.ts).
    writer.on('connect', (client) => {
      const socket = clientSocket(client);
      if (socket) coalesceWrites(socket);
    });
    try {
      if (options.readonly) await checkSchema(pool, schema);
      else await ensureSchema(pool, schema);
    } catch (error) {
      await Promise.all([pool.end(), writer.end()]).catch(() => undefined);
      throw new Error(`cannot open the PostgreSQL event store at ${redactedUrl(url)}: ${describeError(error)}`, { cause: error });
    }
    return new PostgresEventStore(pool, writer, url, { ...options, schema, connectTimeoutMs, applicationName });
  }

  append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, _options?: AppendOptions): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    return new Promise((resolve, reject) => {
      assertAppendable(events); // thrown inside the executor: a rejected promise, never a synchronous throw
      const ids = new Set<string>();
      for (const e of events) {
        if (!UUID.test(e.eventId)) throw new TypeError(`event ids are UUIDs in this store, got "${e.eventId}"`);
        const id = e.eventId.toLowerCase();
        if (ids.has(id)) throw new DuplicateEventId(e.eventId);
        ids.add(id);
      }
      this.queue.push({ streamId, events, expected, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Appends of one event-loop turn go together; while a transaction is in flight the queue waits for it. */
  private scheduleFlush(): void {
    if (this.writing !== undefined || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.startDrain();
    });
  }

  private startDrain(): void {
    if (this.writing !== undefined) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      // An append queued between the drain's last look at the queue and now.
      if (this.queue.length > 0) this.scheduleFlush();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.commitBatch(this.takeBatch());
  }

  /**
   * The next batch, in queue order: appends of distinct streams and distinct event ids, each decided against the log
   * alone. An append that shares a stream or an id with an earlier one still queued waits for a later batch, and so
   * does every later append of its stream: each stream's appends are committed in the order they were made.
   */
  private takeBatch(): PendingAppend[] {
    const batch: PendingAppend[] = [];
    const later: PendingAppend[] = [];
    const streams = new Set<string>();
    const ids = new Set<string>();
    let events = 0;
    for (const a of this.queue) {
      const full = batch.length >= MAX_APPENDS_PER_BATCH || (batch.length > 0 && events + a.events.length > MAX_EVENTS_PER_BATCH);
      const clashes = streams.has(a.streamId) || a.events.some((e) => ids.has(e.eventId.toLowerCase()));
      streams.add(a.streamId);
      for (const e of a.events) ids.add(e.eventId.toLowerCase());
      if (full || clashes) {
        later.push(a);
      } else {
        batch.push(a);
        events += a.events.length;
      }
    }
    this.queue = later;
    return batch;
  }

  /**
   * The writer connection for `batch`, with the release to call after its COMMIT (or its failure); undefined once every
   * append of the batch has been failed for want of one.
   */
  private async writerFor(batch: readonly PendingAppend[]): Promise<{ client: PoolClient; release: (error?: unknown) => void } | undefined> {
    let client: PoolClient;
    try {
      client = await this.writer.connect();
    } catch (error) {
      const failure = new Error(`the PostgreSQL event store is unreachable: ${describeError(error)}`, { cause: error });
      for (const a of batch) a.reject(failure);
      return undefined;
    }
    // A connection that dies between two statements reports it here too; the next statement then fails.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    const release = (error?: unknown): void => {
      client.removeListener('error', ignore);
      // With an error the pool destroys the connection instead of reusing it: its session state is unknown.
      client.release(error === undefined ? undefined : new Error(describeError(error)));
    };
    return { client, release };
  }

  /**
   * One transaction, one round trip: BEGIN, the head row's lock, then one statement that reads every append's stream
   * revision and ids (after the lock: nothing can be appended between that read and the insert), inserts the appends
   * that hold, moves the head and notifies, then COMMIT, all pipelined. A refused append fails alone: it is simply not
   * inserted. Never throws: every append is settled after the COMMIT. An error the server reports for the statement
   * (a value it refuses) falls back to the savepoint path, which isolates the append that caused it.
   */
  private async commitBatch(batch: readonly PendingAppend[]): Promise<void> {
    const writer = await this.writerFor(batch);
    if (writer === undefined) return;
    const { client, release } = writer;
    const document = JSON.stringify(
      batch.map((a) => ({
        s: a.streamId,
        x: a.expected === NO_STREAM ? -1 : a.expected,
        e: a.events.map((e) => ({ i: e.eventId, t: e.type, v: Number.isInteger(e.metadata.schemaVersion) ? e.metadata.schemaVersion : 1, d: e.data, m: e.metadata })),
      })),
    );
    // Sent together; the server runs them in order, each answered on its own.
    const [begun, locked, appended, committed] = await Promise.allSettled([
      client.query('BEGIN'),
      client.query({ name: `${this.sql.name}_lock`, text: this.sql.lockHead }),
      client.query<BatchRow>({ name: `${this.sql.name}_append`, text: this.sql.appendBatch, values: [document, new Date(this.now()), this.channel, batch.flatMap((a) => a.events.map((e) => e.eventId))] }),
      client.query('COMMIT'),
    ]);
    const failed = [begun, locked, committed].find((r) => r.status === 'rejected');
    if (appended.status === 'rejected' && isServerError(appended.reason) && failed === undefined) {
      // Rolled back (the COMMIT of a failed transaction is a ROLLBACK): nothing of the batch is written.
      release();
      await this.commitEachInSavepoint(batch);
      return;
    }
    const rows = appended.status === 'fulfilled' ? appended.value.rows : [];
    if (appended.status === 'rejected' || rows.length !== batch.length) {
      const error: unknown =
        failed?.status === 'rejected'
          ? failed.reason
          : appended.status === 'rejected'
            ? appended.reason
            : new Error(`the batch statement answered ${rows.length} rows for ${batch.length} appends`);
      release(error);
      for (const a of batch) a.reject(error);
      return;
    }
    const outcomes = rows.map((row, i) => this.outcomeOf(batch[i] as PendingAppend, row));
    if (failed?.status === 'rejected') {
      // Whether a failed COMMIT committed is unknown (a retry with the same ids is recognised either way); a refusal
      // or a recognised retry wrote nothing and still holds.
      release(failed.reason);
      batch.forEach((a, i) => {
        const outcome = outcomes[i] as Outcome;
        if ('wrote' in outcome && outcome.wrote) a.reject(failed.reason);
        else if ('error' in outcome) a.reject(outcome.error);
        else a.resolve(outcome.result);
      });
      return;
    }
    release();
    if (outcomes.some((o) => 'wrote' in o && o.wrote)) this.appended.notify();
    batch.forEach((a, i) => {
      const outcome = outcomes[i] as Outcome;
      if ('error' in outcome) a.reject(outcome.error);
      else a.resolve(outcome.result);
    });
  }

  /** What the batch statement's row for one append means: its result, a recognised retry, or the refusal. */
  private outcomeOf(a: PendingAppend, row: BatchRow): Outcome {
    const { streamId, events, expected } = a;
    if (row.last_position !== null) {
      const firstRevision = expected === NO_STREAM ? 0 : expected + 1;
      return { wrote: true, result: { nextExpectedRevision: firstRevision + events.length - 1, position: Number(row.last_position) } };
    }
    const current = row.current < 0 ? NO_STREAM : row.current;
    const stored = new Map<string, StoredEventRef>();
    for (const s of row.stored ?? []) stored.set(s.eventId, { streamId: s.streamId, revision: s.revision, position: s.position });
    try {
      const retry = recognisedRetry(streamId, events, expected, current, (id) => stored.get(id.toLowerCase()));
      if (retry) return { wrote: false, result: retry };
      if (expected !== current) return { error: new WrongExpectedRevision(streamId, expected, current) };
      const taken = events.find((e) => stored.has(e.eventId.toLowerCase()));
      return { error: new DuplicateEventId((taken ?? events[0])?.eventId ?? '') };
    } catch (refusal) {
      return { error: refusal };
    }
  }

  /** The fallback: transactions of at most 64 appends, each append in a SAVEPOINT of its own (see appendOne). */
  private async commitEachInSavepoint(batch: readonly PendingAppend[]): Promise<void> {
    for (let from = 0; from < batch.length; from += MAX_APPENDS_PER_SAVEPOINT_TRANSACTION) {
      await this.commitInSavepoints(batch.slice(from, from + MAX_APPENDS_PER_SAVEPOINT_TRANSACTION));
    }
  }

  /** One transaction for the appends, a savepoint each; never throws: every append is settled, after the COMMIT. */
  private async commitInSavepoints(batch: readonly PendingAppend[]): Promise<void> {
    const writer = await this.writerFor(batch);
    if (writer === undefined) return;
    const { client, release } = writer;
    const outcomes: Outcome[] = [];
    let head = 0;
    try {
      await client.query('BEGIN');
      for (const a of batch) {
        const outcome = await this.appendOne(client, a);
        outcomes.push(outcome);
        if ('wrote' in outcome && outcome.wrote) head = Math.max(head, outcome.result.position);
      }
      if (head > 0) await client.query('SELECT pg_notify($1, $2)', [this.channel, String(head)]);
      await client.query('COMMIT');
    } catch (error) {
      // The transaction failed, or its COMMIT did (then whether it committed is unknown: a retry with the same ids
      // is recognised either way). What an append decided without writing (a refusal, a retry) still holds.
      release(error);
      batch.forEach((a, i) => {
        const outcome = outcomes[i];
        if (outcome === undefined || ('wrote' in outcome && outcome.wrote)) a.reject(error);
        else if ('error' in outcome) a.reject(outcome.error);
        else a.resolve(outcome.result);
      });
      return;
    }
    release();
    if (head > 0) this.appended.notify();
    batch.forEach((a, i) => {
      const outcome = outcomes[i] as Outcome;
      if ('error' in outcome) a.reject(outcome.error);
      else a.resolve(outcome.result);
    });
  }

  /**
   * One append inside the batch's transaction. Refusals are outcomes; an error of any other kind (the connection,
   * a timeout) is thrown and fails the whole transaction.
   */
  private async appendOne(client: PoolClient, a: PendingAppend): Promise<Outcome> {
    const { streamId, events, expected } = a;
    const ids = events.map((e) => e.eventId.toLowerCase());
    try {
      const { current, stored } = await this.readState(client, streamId, ids);
      const retry = recognisedRetry(streamId, events, expected, current, (id) => stored.get(id.toLowerCase()));
      if (retry) return { wrote: false, result: retry };
      if (expected !== current) throw new WrongExpectedRevision(streamId, expected, current);
      for (const e of events) if (stored.has(e.eventId.toLowerCase())) throw new DuplicateEventId(e.eventId);
    } catch (error) {
      if (error instanceof WrongExpectedRevision || error instanceof DuplicateEventId) return { error };
      throw error;
    }

    const firstRevision = expected === NO_STREAM ? 0 : expected + 1;
    await client.query('SAVEPOINT append');
    try {
      const last = await this.allocatePositions(client, events.length);
      await client.query(this.sql.insert, [
        last - events.length,
        streamId,
        firstRevision,
        JSON.stringify(events.map((e) => ({ eventId: e.eventId, type: e.type, schemaVersion: Number.isInteger(e.metadata.schemaVersion) ? e.metadata.schemaVersion : 1, data: e.data, metadata: e.metadata }))),
        new Date(this.now()),
      ]);
      await client.query('RELEASE SAVEPOINT append');
      return { wrote: true, result: { nextExpectedRevision: firstRevision + events.length - 1, position: last } };
    } catch (error) {
      // A connection or client-side failure fails the transaction; an error the server reported fails this append
      // only, undone with its savepoint (its positions too: they stay contiguous).
      if (!isServerError(error)) throw error;
      await client.query('ROLLBACK TO SAVEPOINT append');
      await client.query('RELEASE SAVEPOINT append');
      const constraint = constraintOf(error);
      if (constraint === undefined) return { error };
      // Another process appended in between (see the class comment): say why this append cannot be stored.
      const { current, stored } = await this.readState(client, streamId, ids);
      try {
        const retry = recognisedRetry(streamId, events, expected, current, (id) => stored.get(id.toLowerCase()));
        if (retry) return { wrote: false, result: retry };
        if (constraint === this.sql.eventIdConstraint) {
          const taken = events.find((e) => stored.has(e.eventId.toLowerCase()));
          return { error: new DuplicateEventId((taken ?? events[0])?.eventId ?? '') };
        }
        return { error: new WrongExpectedRevision(streamId, expected, current) };
      } catch (refusal) {
        return { error: refusal };
      }
    }
  }

  /**
   * The gap guard: the head row's lock, taken here and held until COMMIT, orders the appending transactions, so
   * positions become visible in their order (see the class comment).
   */
  private async allocatePositions(client: PoolClient, count: number): Promise<number> {
    const { rows } = await client.query<{ position: string }>(this.sql.allocate, [count]);
    return Number((rows[0] as { position: string }).position);
  }

  private async readState(
    client: PoolClient,
    streamId: string,
    ids: readonly string[],
  ): Promise<{ current: number | typeof NO_STREAM; stored: Map<string, StoredEventRef> }> {
    const { rows } = await client.query<{ current: number | null; stored: Array<{ eventId: string; streamId: string; revision: number; position: number }> }>(
      this.sql.state,
      [streamId, ids],
    );
    const row = rows[0] as { current: number | null; stored: Array<{ eventId: string; streamId: string; revision: number; position: number }> };
    const stored = new Map<string, StoredEventRef>();
    for (const s of row.stored) stored.set(s.eventId, { streamId: s.streamId, revision: s.revision, position: s.position });
    return { current: row.current === null ? NO_STREAM : row.current, stored };
  }

  /** A read as a named statement: each pooled connection parses and plans it once, not on every call. */
  private prepared(statement: 'readStream' | 'readAll' | 'readAllPayloadsOf' | 'head', values: unknown[]): QueryConfig {
    return { name: `${this.sql.name}_${statement}`, text: this.sql[statement], values };
  }

  /**
   * The stream reads of one event-loop turn go to the server as one statement: a reservation reads its buyer's stream,
   * so under load each turn asks for many, and a round trip each (its writes, its wake-ups on both sides) cost more
   * than the lookups. Each read is still answered on its own, with what the log held when the statement ran.
   */
  readStream(streamId: string, fromRevision = 0): Promise<RecordedEvent[]> {
    return new Promise((resolve, reject) => {
      this.streamReads.push({ streamId, fromRevision, resolve, reject });
      if (this.streamReadsScheduled) return;
      this.streamReadsScheduled = true;
      setImmediate(() => void this.takeStreamReads());
    });
  }

  /** Sends the stream reads queued so far, a statement per MAX_STREAM_READS_PER_STATEMENT; each settles every read it has. */
  private takeStreamReads(): Promise<void>[] {
    this.streamReadsScheduled = false;
    const reads = this.streamReads;
    this.streamReads = [];
    const sent: Promise<void>[] = [];
    for (let from = 0; from < reads.length; from += MAX_STREAM_READS_PER_STATEMENT) sent.push(this.readStreams(reads.slice(from, from + MAX_STREAM_READS_PER_STATEMENT)));
    return sent;
  }

  private async readStreams(reads: readonly PendingStreamRead[]): Promise<void> {
    try {
      if (reads.length === 1) {
        const [read] = reads as [PendingStreamRead];
        const { rows } = await this.pool.query<EventRow>(this.prepared('readStream', [read.streamId, read.fromRevision]));
        read.resolve(rows.map(toRecorded));
        return;
      }
      // Unnamed, so planned at each execution against the table as it is (see the writer's plan_cache_mode).
      const { rows } = await this.pool.query<EventRow & { idx: string }>(this.sql.readStreams, [reads.map((r) => r.streamId), reads.map((r) => r.fromRevision)]);
      const events: RecordedEvent[][] = reads.map(() => []);
      for (const row of rows) events[Number(row.idx) - 1]?.push(toRecorded(row));
      reads.forEach((read, i) => read.resolve(events[i] as RecordedEvent[]));
    } catch (error) {
      for (const read of reads) read.reject(error);
    }
  }

  async readAll({ after, maxCount }: ReadAllOptions): Promise<RecordedEvent[]> {
    if (this.closed || maxCount <= 0) return [];
    const { rows } = await this.pool.query<EventRow>(this.prepared('readAll', [after, maxCount]));
    return rows.map(toRecorded);
  }

  /**
   * readAll with the data and metadata of `payloadOf`'s types only (SubscribeOptions.payloadOf): the server neither
   * sends the other events' JSON nor this process parses it. A follower of the whole log, such as an api replica's
   * indexes, reads every replica's events and looks into a few types of them.
   */
  private async readAllPayloadsOf({ after, maxCount }: ReadAllOptions, payloadOf: readonly string[]): Promise<RecordedEvent[]> {
    if (this.closed || maxCount <= 0) return [];
    const { rows } = await this.pool.query<FollowRow>(this.prepared('readAllPayloadsOf', [after, maxCount, payloadOf]));
    return rows.map((r) => {
      // Only an event whose payload was not sent gets the stand-ins: a stored JSON null of an asked-for type stays
      // null, so decoding refuses it as the full read does.
      if (!r.whole) {
        r.data = NO_DATA;
        r.metadata = metadataOf(r.schema_version);
      }
      return toRecorded(r as EventRow);
    });
  }

  /** LogReader: the events after `after` up to `upTo` (inclusive), at most `maxCount`, of `types` if given. */
  async readPage(request: LogPageRequest): Promise<LogPage> {
    return this.readLogRows(request, (r) => ({
      position: Number(r.position),
      streamId: r.stream_id,
      revision: r.revision,
      eventId: r.event_id,
      type: r.type,
      data: r.data,
      schemaVersion: logSchemaVersion(r.metadata_kind, r.schema_version),
      recordedAt: Number(r.recorded_at),
    }));
  }

  /** LogReader: readPage without stream, revision and id. */
  async readPayloads(request: LogPageRequest): Promise<LogPage<LogPayload>> {
    return this.readLogRows(request, (r) => ({
      position: Number(r.position),
      type: r.type,
      data: r.data,
      schemaVersion: logSchemaVersion(r.metadata_kind, r.schema_version),
      recordedAt: Number(r.recorded_at),
    }));
  }

  private async readLogRows<E extends LogPayload>({ after, upTo, maxCount, types }: LogPageRequest, convert: (r: LogRow) => E): Promise<LogPage<E>> {
    if (maxCount < 1) throw new RangeError('maxCount must be at least 1');
    if (upTo <= after) return { events: [], through: after };
    const { rows } =
      types === undefined
        ? await this.pool.query<LogRow>(this.sql.readLog, [after, upTo, maxCount])
        : await this.pool.query<LogRow>(this.sql.readLogOfTypes, [after, upTo, maxCount, [...types]]);
    const events = rows.map(convert);
    const last = events.at(-1);
    return { events, through: last !== undefined && events.length === maxCount ? last.position : upTo };
  }

  async headPosition(): Promise<number> {
    const { rows } = await this.pool.query<{ position: string }>(this.prepared('head', []));
    return Number((rows[0] as { position: string }).position);
  }

  /** Every append is answered after its COMMIT, flushed to the WAL: durable as soon as it is answered. */
  whenDurable(_position: number): Promise<void> {
    return Promise.resolve();
  }

  subscribeToAll(after: number, { payloadOf }: SubscribeOptions = {}): Subscription {
    this.listen();
    const read = payloadOf === undefined ? (o: ReadAllOptions) => this.readAll(o) : (o: ReadAllOptions) => this.readAllPayloadsOf(o, payloadOf);
    const subscription = catchUpSubscription(
      {
        // A lost connection is not the end of a subscription: it reads again on the next wake-up or poll tick.
        readAll: (o) =>
          read(o).catch((error: unknown) => {
            if (this.closed || isConnectionLoss(error)) return [];
            throw error;
          }),
        waitForAppend: () => this.appended.wait(this.pollMs),
      },
      after,
      { followEveryMs: this.options.followEveryMs ?? 0 },
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Starts the LISTEN connection, once, at the first subscription: a store that only appends needs none. */
  private listen(): void {
    if (this.listenerWanted || this.closed) return;
    this.listenerWanted = true;
    void this.connectListener();
  }

  private async connectListener(): Promise<void> {
    this.listenerTimer = undefined;
    if (this.closed) return;
    const client = new Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      application_name: `${this.options.applicationName}-listener`,
      keepAlive: true,
    });
    client.on('error', () => undefined); // followed by 'end', which reconnects
    client.on('notification', () => this.appended.notify());
    client.on('end', () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.reconnectListener();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch {
      await client.end().catch(() => undefined);
      this.reconnectListener();
      return;
    }
    if (this.isClosed()) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.listenerRetryMs = 0;
    // Notifications sent while nobody listened are lost: every reader looks for itself now.
    this.appended.notify();
  }

  /** Read through a call: close() may run while the listener connects, which TypeScript's narrowing cannot see. */
  private isClosed(): boolean {
    return this.closed;
  }

  private reconnectListener(): void {
    if (this.closed || this.listenerTimer !== undefined) return;
    this.listenerRetryMs = Math.min(5000, Math.max(50, this.listenerRetryMs * 2));
    this.listenerTimer = setTimeout(() => void this.connectListener(), this.listenerRetryMs);
  }

  /** Commits what is queued, ends the subscriptions, then closes the connections. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      while (this.queue.length > 0 || this.writing !== undefined) {
        this.startDrain();
        await this.writing;
      }
      // Stream reads made before close() but not sent yet (their turn's batch) are answered, as they were one by one.
      await Promise.all(this.takeStreamReads());
      for (const s of this.subscriptions) s.close();
      if (this.listenerTimer !== undefined) clearTimeout(this.listenerTimer);
      const listener = this.listener;
      this.listener = undefined;
      await listener?.end().catch(() => undefined);
      await Promise.all([this.pool.end(), this.writer.end()]);
    })();
    return this.closing;
  }
}

/** Creates the schema, its tables and the head row if missing; an advisory lock lets two processes open at once. */
const ensureSchema = async (pool: Pool, schema: string): Promise<void> => {
  const client = await pool.connect();
  client.on('error', () => undefined); // the failing statement reports it
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [schemaLockKey(schema)]);
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
    // data and metadata as jsonb: queryable by analysts. bytea holding the JSON text would spare the server's jsonb
    // parse on every insert and keep the caller's key order (jsonb reorders keys); not measured yet.
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${schema}.events (
        position       bigint      NOT NULL,
        stream_id      text        NOT NULL,
        revision       integer     NOT NULL,
        event_id       uuid        NOT NULL,
        type           text        NOT NULL,
        schema_version integer     NOT NULL,
        data           jsonb       NOT NULL,
        metadata       jsonb       NOT NULL,
        recorded_at    timestamptz NOT NULL,
        CONSTRAINT events_pkey PRIMARY KEY (position),
        CONSTRAINT events_stream_revision_key UNIQUE (stream_id, revision),
        CONSTRAINT events_event_id_key UNIQUE (event_id)
      )`);
    // One row: the last position handed out. Its row lock orders the appending transactions (the gap guard).
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${schema}.head (
        id       boolean PRIMARY KEY DEFAULT true CHECK (id),
        position bigint  NOT NULL
      )`);
    await client.query(`INSERT INTO ${schema}.head (id, position) SELECT true, coalesce(max(position), 0) FROM ${schema}.events ON CONFLICT (id) DO NOTHING`);
    await client.query('COMMIT');
    client.release();
  } catch (error) {
    client.release(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
};

/** A read-only store opens only a database that holds the store's tables: it creates nothing. */
const checkSchema = async (pool: Pool, schema: string): Promise<void> => {
  const { rows } = await pool.query<{ events: string | null; head: string | null }>('SELECT to_regclass($1) AS events, to_regclass($2) AS head', [`${schema}.events`, `${schema}.head`]);
  if (rows[0]?.events == null || rows[0].head == null) throw new Error(`no event store there (no ${schema}.events table)`);
};

/** What decodeEvent reads from the metadata object (see LogPayload.schemaVersion): its numeric schemaVersion, else 1; NaN for JSON null. */
const logSchemaVersion = (metadataKind: string, schemaVersion: unknown): number => {
  if (metadataKind === 'null') return NaN;
  return typeof schemaVersion === 'number' ? schemaVersion : 1;
};

const statements = (schema: string) => {
  const columns = `position, stream_id, revision, event_id, type, data, metadata, (extract(epoch FROM recorded_at) * 1000)::bigint AS recorded_at`;
  // The metadata reduced to what decoding reads (see LogPayload.schemaVersion).
  const logColumns = `position, stream_id, revision, event_id, type, data, jsonb_typeof(metadata) AS metadata_kind, metadata->'schemaVersion' AS schema_version, (extract(epoch FROM recorded_at) * 1000)::bigint AS recorded_at`;
  return {
    /** Prefix of the prepared statements' names: one set per schema. */
    name: `flash_es_${schema}`,
    eventIdConstraint: 'events_event_id_key',
    lockHead: `SELECT position FROM ${schema}.head FOR UPDATE`,
    // One document for the batch, [{s: stream, x: expected revision (-1: no stream), e: [{i, t, v, d, m}]}]: every
    // append checked against the log as the head lock leaves it, the ones that hold inserted with contiguous positions
    // in batch order, the head moved and a notification sent; one row per append, in order (a refused one with the
    // revision and the stored ids that refused it). The ids come again as an array ($4): looked up through their index,
    // where a join on the document's rows (which the planner cannot count) was planned as a scan of the whole table.
    appendBatch: `
      WITH batch AS (
        SELECT a.ord::integer AS idx, a.doc->>'s' AS stream_id, (a.doc->>'x')::integer AS expected, a.doc->'e' AS events,
               jsonb_array_length(a.doc->'e') AS n
          FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(doc, ord)
      ),
      incoming AS (
        SELECT b.idx, e.ord::integer AS ord, (e.doc->>'i')::uuid AS event_id, e.doc
          FROM batch b, jsonb_array_elements(b.events) WITH ORDINALITY AS e(doc, ord)
      ),
      stored AS (
        SELECT i.idx, ev.event_id, ev.stream_id, ev.revision, ev.position
          FROM ${schema}.events ev JOIN incoming i ON i.event_id = ev.event_id
         WHERE ev.event_id = ANY($4::uuid[])
      ),
      state AS (
        SELECT b.idx, b.stream_id, b.expected, b.n,
               coalesce((SELECT max(ev.revision) FROM ${schema}.events ev WHERE ev.stream_id = b.stream_id), -1) AS current,
               EXISTS (SELECT 1 FROM stored s WHERE s.idx = b.idx) AS taken
          FROM batch b
      ),
      accepted AS (
        SELECT s.idx, s.stream_id, s.expected, s.n, (SELECT h.position FROM ${schema}.head h) + sum(s.n) OVER (ORDER BY s.idx) AS last_position
          FROM state s WHERE s.current = s.expected AND NOT s.taken
      ),
      inserted AS (
        INSERT INTO ${schema}.events (position, stream_id, revision, event_id, type, schema_version, data, metadata, recorded_at)
        SELECT a.last_position - a.n + i.ord, a.stream_id, a.expected + i.ord, i.event_id, i.doc->>'t', (i.doc->>'v')::integer,
               i.doc->'d', i.doc->'m', $2::timestamptz
          FROM accepted a JOIN incoming i ON i.idx = a.idx
      ),
      moved AS (
        UPDATE ${schema}.head SET position = (SELECT max(a.last_position) FROM accepted a)
         WHERE EXISTS (SELECT 1 FROM accepted) RETURNING pg_notify($3, position::text)
      )
      SELECT s.idx, s.current, a.last_position,
             CASE WHEN a.idx IS NULL THEN (SELECT json_agg(json_build_object('eventId', st.event_id, 'streamId', st.stream_id, 'revision', st.revision, 'position', st.position))
                                             FROM stored st WHERE st.idx = s.idx) END AS stored
        FROM state s LEFT JOIN accepted a ON a.idx = s.idx
       ORDER BY s.idx`,
    state: `
      SELECT (SELECT max(revision) FROM ${schema}.events WHERE stream_id = $1) AS current,
             (SELECT coalesce(json_agg(json_build_object('eventId', event_id, 'streamId', stream_id, 'revision', revision, 'position', position)), '[]')
                FROM ${schema}.events WHERE event_id = ANY($2::uuid[])) AS stored`,
    allocate: `UPDATE ${schema}.head SET position = position + $1 RETURNING position`,
    insert: `
      INSERT INTO ${schema}.events (position, stream_id, revision, event_id, type, schema_version, data, metadata, recorded_at)
      SELECT $1::bigint + e.ord, $2, $3::integer + e.ord - 1, (e.doc->>'eventId')::uuid, e.doc->>'type', (e.doc->>'schemaVersion')::integer,
             e.doc->'data', e.doc->'metadata', $5::timestamptz
        FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(doc, ord)`,
    readStream: `SELECT ${columns} FROM ${schema}.events WHERE stream_id = $1 AND revision >= $2 ORDER BY revision`,
    // Several streams at once, each from its revision; every row names its read (1-based, the arrays' order).
    readStreams: `
      SELECT r.idx, e.*
        FROM unnest($1::text[], $2::integer[]) WITH ORDINALITY AS r(stream_id, from_revision, idx)
       CROSS JOIN LATERAL (SELECT ${columns} FROM ${schema}.events ev WHERE ev.stream_id = r.stream_id AND ev.revision >= r.from_revision ORDER BY ev.revision) e
       ORDER BY r.idx, e.revision`,
    readAll: `SELECT ${columns} FROM ${schema}.events WHERE position > $1 ORDER BY position LIMIT $2`,
    readAllPayloadsOf: `
      SELECT position, stream_id, revision, event_id, type, schema_version, type = ANY($3::text[]) AS whole,
             CASE WHEN type = ANY($3::text[]) THEN data END AS data, CASE WHEN type = ANY($3::text[]) THEN metadata END AS metadata,
             (extract(epoch FROM recorded_at) * 1000)::bigint AS recorded_at
        FROM ${schema}.events WHERE position > $1 ORDER BY position LIMIT $2`,
    head: `SELECT position FROM ${schema}.head`,
    readLog: `SELECT ${logColumns} FROM ${schema}.events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3`,
    readLogOfTypes: `SELECT ${logColumns} FROM ${schema}.events WHERE position > $1 AND position <= $2 AND type = ANY($4::text[]) ORDER BY position LIMIT $3`,
  };
};
