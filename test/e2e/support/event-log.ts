import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteEventStore } from '@flash/event-store';
import { EVENTS_FILE } from '@flash/runtime';
import { SAGA_CHECKPOINTS_FILE, SAGAS_CHECKPOINT } from '@flash/sagas';

/** One event of the log as a reader beside the server sees it. */
export interface LoggedEvent {
  readonly position: number;
  readonly type: string;
  readonly data: any;
  readonly recordedAt: number;
}

/**
 * The whole event log of a server's DATA_DIR, read read-only beside the running api and worker (SQLite in WAL mode
 * lets a reader in while they write): the truth, whichever process wrote it and whichever runs the sagas.
 */
export const readEventLog = async (dataDir: string): Promise<LoggedEvent[]> => {
  const store = new SqliteEventStore({ file: path.join(dataDir, EVENTS_FILE), readonly: true });
  try {
    const events: LoggedEvent[] = [];
    for (;;) {
      const page = await store.readAll({ after: events.at(-1)?.position ?? 0, maxCount: 5000 });
      if (page.length === 0) return events;
      for (const e of page) events.push({ position: e.position, type: e.type, data: e.data, recordedAt: e.recordedAt });
    }
  } finally {
    await store.close();
  }
};

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
