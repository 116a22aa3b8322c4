import Database from 'better-sqlite3';
import { DomainEvent, isEventType, upcast } from '@flash/domain';
import { UnknownEventType } from '../codec/domain-event-codec';

/**
 * What a stored event says, without where it sits in its stream: what a projection needs (it never looks at streams).
 * The metadata object is reduced to its `schemaVersion`, the one field decoding reads: parsing every event's
 * metadata was a third of the JSON a replay parsed, for one number.
 */
export interface LogPayload {
  /** 1-based position in the store's single total order. */
  readonly position: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  /**
   * `metadata.schemaVersion` when it is a number, else 1: what decodeEvent reads from a RecordedEvent. NaN when the
   * metadata is JSON `null`, which decodeEvent cannot read (decodeLogEvent throws the same error for it).
   */
  readonly schemaVersion: number;
  /** Epoch ms at which the store recorded it. */
  readonly recordedAt: number;
}

/** One stored event as a sequential reader of the whole log needs it: a RecordedEvent without its metadata object. */
export interface LogEvent extends LogPayload {
  readonly streamId: string;
  /** 0-based position of the event in its stream. */
  readonly revision: number;
  readonly eventId: string;
}

export interface LogPageRequest {
  /** Exclusive: events with a greater position are returned. */
  readonly after: number;
  /** Inclusive upper bound: typically the head when the reading began. */
  readonly upTo: number;
  /** At most this many events. */
  readonly maxCount: number;
  /** Only events of these types (the others are skipped inside SQLite: never copied out, never parsed). */
  readonly types?: readonly string[];
}

export interface LogPage<E extends LogPayload = LogEvent> {
  readonly events: E[];
  /**
   * Every event up to this position has been seen (handed out, or skipped for its type): the `after` of the next
   * page, and the checkpoint a consumer may write once it applied `events`. Equals `upTo` when the range is done.
   */
  readonly through: number;
}

/**
 * A sequential reader of the whole log, in position order, in pages: what the audit and a projection rebuild read
 * through. SqliteLogReader answers synchronously (an embedded file); PostgresEventStore answers with promises.
 * Neither ever writes.
 */
export interface LogReader {
  /** Position of the last event in the store, 0 when empty. */
  headPosition(): number | Promise<number>;
  /** The events after `after` up to `upTo`, at most `maxCount`, in position order; see LogPage.through. */
  readPage(request: LogPageRequest): LogPage | Promise<LogPage>;
  /** The same with only what the events say (LogPayload). */
  readPayloads(request: LogPageRequest): LogPage<LogPayload> | Promise<LogPage<LogPayload>>;
}

export interface SqliteLogReaderOptions {
  /** The event store's database file (written by SqliteEventStore). It is opened read-only. */
  readonly file: string;
  /**
   * Bytes of the file SQLite may memory-map, so a scan reads pages in place instead of copying each one into its
   * page cache. Default 1 GiB; 0 turns it off.
   */
  readonly mmapBytes?: number;
}

type Row = [position: number, streamId: string, revision: number, eventId: string, type: string, data: string, metadata: string, recordedAt: number];
type PayloadRow = [position: number, type: string, data: string, metadata: string, recordedAt: number];

const COLUMNS = 'position, stream_id, revision, event_id, type, data, metadata, recorded_at';
/** Each column less is one JS value less per row: a fifth of a projection's reading. */
const PAYLOAD_COLUMNS = 'position, type, data, metadata, recorded_at';
const SCHEMA_VERSION_KEY = '"schemaVersion":';
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/**
 * `metadata.schemaVersion` as decodeEvent reads it from `JSON.parse(metadata)`, taken from the text. Every event
 * this system writes ends its metadata with `"schemaVersion":N}` (encodeEvent puts it last), and in valid JSON a
 * `"schemaVersion":` preceded by `{` or `,` and followed by digits and the final `}` can only be the top-level
 * object's last key, which is the one JSON.parse keeps. Such text is not checked any further (the one difference
 * from readAll, which would throw on metadata that ends so but is not JSON); anything else is parsed in full, so it
 * throws here, at read time, as it does through readAll. JSON `null` gives NaN (see LogPayload.schemaVersion).
 */
export const schemaVersionOf = (metadata: string): number => {
  const end = metadata.length - 1;
  let i = end - 1;
  while (i >= 0) {
    const c = metadata.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) break;
    i--;
  }
  const digits = end - 1 - i;
  const keyStart = i + 1 - SCHEMA_VERSION_KEY.length;
  if (
    metadata.charCodeAt(end) === 0x7d /* } */ &&
    digits > 0 &&
    digits <= 9 &&
    !(digits > 1 && metadata.charCodeAt(i + 1) === DIGIT_0) &&
    keyStart > 0 &&
    metadata.startsWith(SCHEMA_VERSION_KEY, keyStart) &&
    (metadata.charCodeAt(keyStart - 1) === 0x2c /* , */ || (keyStart === 1 && metadata.charCodeAt(0) === 0x7b)) /* { */
  ) {
    return Number(metadata.slice(i + 1, end));
  }
  const parsed = JSON.parse(metadata) as { schemaVersion?: unknown } | null;
  if (parsed === null) return NaN;
  return typeof parsed.schemaVersion === 'number' ? parsed.schemaVersion : 1;
};

const toLogEvent = (r: Row): LogEvent => ({
  position: r[0],
  streamId: r[1],
  revision: r[2],
  eventId: r[3],
  type: r[4],
  data: JSON.parse(r[5]) as Record<string, unknown>,
  schemaVersion: schemaVersionOf(r[6]),
  recordedAt: r[7],
});

const toLogPayload = (r: PayloadRow): LogPayload => ({
  position: r[0],
  type: r[1],
  data: JSON.parse(r[2]) as Record<string, unknown>,
  schemaVersion: schemaVersionOf(r[3]),
  recordedAt: r[4],
});

/** decodeEvent for a LogEvent: the same checks and the same upcasting, from the same stored data. */
export const decodeLogEvent = (e: LogPayload): DomainEvent => {
  if (!isEventType(e.type)) throw new UnknownEventType(`unknown event type ${e.type} at position ${e.position}`);
  // What reading `schemaVersion` of a null metadata throws in decodeEvent.
  if (Number.isNaN(e.schemaVersion)) throw new TypeError("Cannot read properties of null (reading 'schemaVersion')");
  return { type: e.type, data: upcast(e.type, e.schemaVersion, e.data) } as DomainEvent;
};

/**
 * A read-only, synchronous, sequential reader of the SQLite event store's log, for whoever reads all of it (the
 * audit, a projection rebuild): raw rows, large pages, a memory-mapped file, an optional filter on event types
 * evaluated by SQLite. It never writes and takes no lock a writer waits for (WAL), so it can run beside the server.
 * It reads the same rows as SqliteEventStore.readAll, in the same order.
 */
export class SqliteLogReader implements LogReader {
  private readonly db: Database.Database;
  private readonly head: Database.Statement<[], { head: number | null }>;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(options: SqliteLogReaderOptions) {
    this.db = new Database(options.file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma(`mmap_size = ${String(Math.max(0, Math.floor(options.mmapBytes ?? 1 << 30)))}`);
    this.head = this.db.prepare('SELECT max(position) AS head FROM events');
  }

  /** Position of the last event in the store, 0 when empty. */
  headPosition(): number {
    return this.head.get()?.head ?? 0;
  }

  /** The events after `after` up to `upTo`, at most `maxCount`, in position order; see LogPage.through. */
  readPage(request: LogPageRequest): LogPage {
    return this.read(request, COLUMNS, (rows: Row[]) => rows.map(toLogEvent));
  }

  /** The same as readPage with only what the events say (LogPayload): fewer columns to copy out of SQLite. */
  readPayloads(request: LogPageRequest): LogPage<LogPayload> {
    return this.read(request, PAYLOAD_COLUMNS, (rows: PayloadRow[]) => rows.map(toLogPayload));
  }

  /** Pages from `after` (exclusive) to `upTo` (inclusive), each of at most `pageSize` events. */
  *pages(after: number, upTo: number, pageSize: number, types?: readonly string[]): Generator<LogPage> {
    let from = after;
    while (from < upTo) {
      const page = this.readPage({ after: from, upTo, maxCount: pageSize, ...(types === undefined ? {} : { types }) });
      yield page;
      from = page.through;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private read<E extends LogPayload>({ after, upTo, maxCount, types }: LogPageRequest, columns: string, convert: (rows: never[]) => E[]): LogPage<E> {
    if (maxCount < 1) throw new RangeError('maxCount must be at least 1');
    if (upTo <= after) return { events: [], through: after };
    const rows = (types === undefined ? this.statement(columns, undefined).all(after, upTo, maxCount) : this.statement(columns, types).all(after, upTo, ...types, maxCount)) as never[];
    const events = convert(rows);
    const last = events.at(-1);
    return { events, through: last !== undefined && events.length === maxCount ? last.position : upTo };
  }

  private statement(columns: string, types: readonly string[] | undefined): Database.Statement {
    const key = `${columns}\n${types === undefined ? '*' : types.join('\n')}`;
    let statement = this.statements.get(key);
    if (!statement) {
      const typeFilter = types === undefined ? '' : ` AND type IN (${types.length === 0 ? 'NULL' : types.map(() => '?').join(', ')})`;
      statement = this.db.prepare(`SELECT ${columns} FROM events WHERE position > ? AND position <= ?${typeFilter} ORDER BY position LIMIT ?`).raw();
      this.statements.set(key, statement);
    }
    return statement;
  }
}
