import fs from 'node:fs';
import path from 'node:path';
import { EsdbEventStore, EventStore, LogEvent, LogReader, PostgresEventStore, RecordedEvent, SqliteEventStore, SqliteLogReader } from '@flash/event-store';
import { eventStoreKind } from '../config';
import { EVENTS_FILE } from '../open-event-store';
import { CannotRun } from './command';

/** Events read per page: the log is streamed, never held in memory whole. */
export const PAGE_SIZE = 2000;

/** Events per page of the sequential reader (verify, replay): larger pages, fewer round trips into SQLite. */
export const SCAN_PAGE_SIZE = 512;

/** --data-dir, else DATA_DIR, else ./data (as the server resolves it). */
export const resolveDataDir = (flag: string | undefined, env: NodeJS.ProcessEnv): string => path.resolve(flag ?? env.DATA_DIR ?? './data');

/**
 * The event store a CLI reads, opened read-only: `store` for readAll pages and the head (export, status), `reader`
 * for the sequential pages of the whole log (verify, replay, a projection rebuild). SQLite in DATA_DIR (its
 * sequential reader on the same file) or, with a postgres:// EVENTSTORE_URL, the PostgreSQL store (which is its own
 * reader), in a read-only session, or with an esdb:// / kurrentdb:// one, EventStoreDB (its own reader; these
 * tools never call its append): they can run beside a live server and never write.
 */
export interface LogSource {
  readonly store: EventStore;
  readonly reader: LogReader;
  close(): Promise<void>;
}

/** Opens the store the environment selects (as the server does), read-only; CannotRun when it cannot be read. */
export const openLogSource = async (dataDir: string, env: NodeJS.ProcessEnv): Promise<LogSource> => {
  const url = env.EVENTSTORE_URL || undefined;
  let kind: string;
  try {
    kind = eventStoreKind(url);
  } catch (error) {
    throw new CannotRun(error instanceof Error ? error.message : String(error));
  }
  if (kind === 'postgres' && url !== undefined) {
    let store: PostgresEventStore;
    try {
      store = await PostgresEventStore.connect(url, { readonly: true, poolSize: 2, applicationName: 'flash-cli', statementTimeoutMs: 60_000 });
    } catch (error) {
      throw new CannotRun(`EVENTSTORE_URL: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { store, reader: store, close: () => store.close() };
  }
  if (kind === 'esdb' && url !== undefined) {
    let store: EsdbEventStore;
    try {
      store = await EsdbEventStore.connect({ url, deadlineMs: 60_000 });
    } catch (error) {
      throw new CannotRun(`EVENTSTORE_URL: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { store, reader: store, close: () => store.close() };
  }
  const file = path.join(dataDir, EVENTS_FILE);
  if (!fs.existsSync(file)) throw new CannotRun(`no event store at ${file} (set --data-dir or DATA_DIR)`);
  let store: SqliteEventStore | undefined;
  try {
    store = new SqliteEventStore({ file, readonly: true });
    const reader = new SqliteLogReader({ file });
    const opened = store;
    return {
      store: opened,
      reader,
      close: async () => {
        reader.close();
        await opened.close();
      },
    };
  } catch (error) {
    await store?.close();
    throw new CannotRun(`cannot open ${file} read-only: ${error instanceof Error ? error.message : String(error)}`);
  }
};

/** Pages of the log in position order, from the start up to `upTo` (inclusive): the head when the audit began. */
export async function* readLog(store: Pick<EventStore, 'readAll'>, upTo: number, pageSize = PAGE_SIZE): AsyncGenerator<RecordedEvent[]> {
  let after = 0;
  while (after < upTo) {
    const page = (await store.readAll({ after, maxCount: Math.min(pageSize, upTo - after) })).filter((e) => e.position <= upTo);
    const last = page[page.length - 1];
    if (!last) return;
    yield page;
    after = last.position;
  }
}

/**
 * Pages of the log through the sequential reader, in position order, from the start up to `upTo` (inclusive). A
 * SQLite reader answers synchronously: one await per page of SCAN_PAGE_SIZE events is all this costs it.
 */
export async function* scanLog(reader: Pick<LogReader, 'readPage'>, upTo: number, pageSize = SCAN_PAGE_SIZE): AsyncGenerator<LogEvent[]> {
  let after = 0;
  while (after < upTo) {
    const page = await reader.readPage({ after, upTo, maxCount: pageSize });
    if (page.events.length > 0) yield page.events;
    if (page.through <= after) return;
    after = page.through;
  }
}
