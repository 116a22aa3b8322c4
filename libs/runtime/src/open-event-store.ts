import fs from 'node:fs';
import path from 'node:path';
import { EsdbEventStore, EventStore, PostgresEventStore, SqliteEventStore } from '@flash/event-store';
import { AppConfig, ConfigError, eventStoreKind } from './config';

export const EVENT_STORE = Symbol('EVENT_STORE');

export const EVENTS_FILE = 'events.sqlite';

/**
 * How often, at most, an api's subscribers read the head of a server store (PostgreSQL) when replicas share it (see
 * apiFollowEveryMs): a read per this interval instead of one per commit of every replica and worker. Nothing an api
 * answers waits on it: a lookup that misses (an order another replica has just answered 201 for) hurries its follower
 * (LogIndexer.reachHead), a write to a shard whose news is late is refused by the stream's revision and decided again;
 * a sale created on another replica, or an expiry by the worker, shows this much later at most.
 */
export const API_FOLLOW_MS = 20;

/**
 * The api's follow pace: API_FOLLOW_MS with REDIS_URL (replicas share the store, their shards leased in that Redis, so
 * every replica's commits wake every follower), else none (one api: its followers wake at its own group commits, and
 * pacing them bought nothing measurable; row 8 ran 10–20% more CPU per reservation with it, in 6 of 7 alternated pairs).
 */
export const apiFollowEveryMs = (config: Pick<AppConfig, 'redisUrl'>): number => (config.redisUrl === undefined ? 0 : API_FOLLOW_MS);

/** How long a start waits for EventStoreDB to answer its first read: a start must fail within 10 s in all. */
const ESDB_PROBE_DEADLINE_MS = 5000;

/**
 * Opens the event store the configuration selects: PostgreSQL for a postgres:// EVENTSTORE_URL, EventStoreDB for an
 * esdb:// or kurrentdb:// one, else embedded SQLite in DATA_DIR. A server that cannot be reached is a ConfigError naming the variable, raised before anything is
 * written to DATA_DIR (open the store first).
 */
export const openEventStore = async (
  config: Pick<AppConfig, 'eventStoreUrl' | 'dataDir' | 'sqliteSynchronous' | 'sqliteCoalesceAppends'>,
  /** For a server the subscribers read from (PostgreSQL): at the head, each reads at most once per this many ms. */
  follow: { readonly followEveryMs?: number } = {},
): Promise<EventStore> => {
  const url = config.eventStoreUrl;
  const kind = eventStoreKind(url);
  if (url !== undefined && kind !== 'sqlite') {
    try {
      return kind === 'postgres' ? await PostgresEventStore.connect(url, follow) : await EsdbEventStore.connect({ url, probeDeadlineMs: ESDB_PROBE_DEADLINE_MS });
    } catch (error) {
      throw new ConfigError(`EVENTSTORE_URL: ${error instanceof Error ? error.message : String(error)}`);
    }
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
