import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { EsdbEventStore, EventStore, PostgresEventStore, RecordedEvent, SqliteEventStore } from '@flash/event-store';
import { EVENTS_FILE } from '@flash/runtime';
import { SAGA_CHECKPOINTS_FILE, SAGAS_CHECKPOINT } from '@flash/sagas';

/** One event of the log as a reader beside the server sees it. */
export interface LoggedEvent {
  readonly position: number;
  readonly type: string;
  readonly data: any;
  readonly recordedAt: number;
}

/** Where a server keeps its log: SQLite in its DATA_DIR, or the PostgreSQL database or EventStoreDB its EVENTSTORE_URL names. */
export interface EventLogSource {
  readonly dataDir: string;
  readonly eventStoreUrl?: string | undefined;
}

/**
 * The server's own store, opened beside the running api and worker for reading only: SQLite read-only (WAL mode lets
 * a reader in while they write), or the same PostgreSQL database on a small pool of its own (nothing is appended).
 */
const openForReading = (source: EventLogSource): Promise<EventStore> => {
  const url = source.eventStoreUrl;
  if (url === undefined) return Promise.resolve(new SqliteEventStore({ file: path.join(source.dataDir, EVENTS_FILE), readonly: true }));
  if (/^(esdb|kurrentdb|kurrent)(\+discover)?:\/\//i.test(url)) return EsdbEventStore.connect({ url });
  return PostgresEventStore.connect(url, { poolSize: 1, applicationName: 'e2e-log-reader' });
};

/**
 * The whole event log of a server, read beside the running api and worker through the store they use: the truth,
 * whichever process wrote it and whichever runs the sagas.
 */
export const readRecordedLog = async (source: EventLogSource): Promise<RecordedEvent[]> => {
  const store = await openForReading(source);
  try {
    const events: RecordedEvent[] = [];
    for (;;) {
      const page = await store.readAll({ after: events.at(-1)?.position ?? 0, maxCount: 5000 });
      if (page.length === 0) return events;
      events.push(...page);
    }
  } finally {
    await store.close();
  }
};

/** The same log, each event as a test reads it. */
export const readEventLog = async (source: EventLogSource): Promise<LoggedEvent[]> =>
  (await readRecordedLog(source)).map((e) => ({ position: e.position, type: e.type, data: e.data, recordedAt: e.recordedAt }));

/**
 * The sagas' stored checkpoint (the last log position whose effects need no replay: every process applied it and
 * has no work pending before it), as the process running them (the api when embedded, the worker when external)
 * last saved it, once per sweep. 0 before the first save.
 */
export const storedSagaCheckpoint = (dataDir: string): number => {
  const file = path.join(dataDir, SAGA_CHECKPOINTS_FILE);
  if (!fs.existsSync(file)) return 0;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const row = db.prepare('SELECT position FROM checkpoints WHERE name = ?').get(SAGAS_CHECKPOINT) as { position: number } | undefined;
    return row?.position ?? 0;
  } finally {
    db.close();
  }
};
