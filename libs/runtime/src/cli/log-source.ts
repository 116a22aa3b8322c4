import fs from 'node:fs';
import path from 'node:path';
import { LogEvent, RecordedEvent, SqliteEventStore, SqliteLogReader } from '@flash/event-store';
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
 * Opens the server's SQLite store read-only, so the audit can run beside a live server without ever writing.
 * These tools read the embedded SQLite store only (so far): with EVENTSTORE_URL set they refuse rather than read the
 * wrong store.
 */
export const openLogReadOnly = (dataDir: string, env: NodeJS.ProcessEnv): SqliteEventStore => openChecked(dataDir, env, (file) => new SqliteEventStore({ file, readonly: true }));

/**
 * The same store (same checks, same refusals) through the sequential log reader: what reads the whole log from the
 * start (verify, replay, a projection rebuild) uses it instead of readAll pages.
 */
export const openLogReader = (dataDir: string, env: NodeJS.ProcessEnv): SqliteLogReader => openChecked(dataDir, env, (file) => new SqliteLogReader({ file }));

const openChecked = <T>(dataDir: string, env: NodeJS.ProcessEnv, open: (file: string) => T): T => {
  if (env.EVENTSTORE_URL) {
    let kind: string;
    try {
      kind = eventStoreKind(env.EVENTSTORE_URL);
    } catch (error) {
      throw new CannotRun(error instanceof Error ? error.message : String(error));
    }
    throw new CannotRun(`EVENTSTORE_URL selects ${kind === 'postgres' ? 'PostgreSQL' : kind}, but this tool reads only the embedded SQLite store so far; unset it to read the store in DATA_DIR`);
  }
  const file = path.join(dataDir, EVENTS_FILE);
  if (!fs.existsSync(file)) throw new CannotRun(`no event store at ${file} (set --data-dir or DATA_DIR)`);
  try {
    return open(file);
  } catch (error) {
    throw new CannotRun(`cannot open ${file} read-only: ${error instanceof Error ? error.message : String(error)}`);
  }
};

/** Pages of the log in position order, from the start up to `upTo` (inclusive): the head when the audit began. */
export async function* readLog(store: { readAll: SqliteEventStore['readAll'] }, upTo: number, pageSize = PAGE_SIZE): AsyncGenerator<RecordedEvent[]> {
  let after = 0;
  while (after < upTo) {
    const page = (await store.readAll({ after, maxCount: Math.min(pageSize, upTo - after) })).filter((e) => e.position <= upTo);
    const last = page[page.length - 1];
    if (!last) return;
    yield page;
    after = last.position;
  }
}

/** Pages of the log through the sequential reader, in position order, from the start up to `upTo` (inclusive). */
export function* scanLog(reader: Pick<SqliteLogReader, 'pages'>, upTo: number, pageSize = SCAN_PAGE_SIZE): Generator<LogEvent[]> {
  for (const page of reader.pages(0, upTo, pageSize)) if (page.events.length > 0) yield page.events;
}
