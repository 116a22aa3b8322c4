import fs from 'node:fs';
import path from 'node:path';
import { EventStore, SqliteEventStore } from '@flash/event-store';
import { AppConfig, ConfigError } from './config';

export const EVENT_STORE = Symbol('EVENT_STORE');

export const EVENTS_FILE = 'events.sqlite';

/** Picks the event store adapter from configuration: embedded SQLite unless EVENTSTORE_URL is set. */
export const openEventStore = (config: AppConfig): EventStore => {
  if (config.eventStoreUrl) {
    throw new ConfigError('EVENTSTORE_URL is set, but the EventStoreDB adapter is not part of this build yet; unset it to use the embedded SQLite store');
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  return new SqliteEventStore({
    file: path.join(config.dataDir, EVENTS_FILE),
    synchronous: config.sqliteSynchronous,
    coalesceAppends: config.sqliteCoalesceAppends,
    // WAL checkpoints (a copy and an fsync of the database file) in a worker thread, not inside a commit.
    backgroundCheckpointMs: 1000,
    // With FULL and coalesced appends: the WAL's fdatasync on the thread pool, appends answered once it is done.
    syncOffLoop: true,
  });
};
