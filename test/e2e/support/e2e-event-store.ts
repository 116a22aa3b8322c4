import { PG_TEST_URL, TestDatabase } from '../../../libs/event-store/test/postgres-support';
import { EsdbStandIn, startEsdbStandIn } from '../../support/esdb-stand-in/esdb-stand-in';

/**
 * Which event store the servers of this jest project run on: the embedded SQLite store in DATA_DIR, (the
 * `e2e-postgres` project, test/support/eventstore-postgres.setup.ts) a PostgreSQL database of each ServerProcess's own,
 * or (the `e2e-esdb` project, test/support/eventstore-esdb.setup.ts) an EventStoreDB stand-in of each one's own.
 */
export const e2eEventStore = (): 'sqlite' | 'postgres' | 'esdb' => {
  const store = process.env.E2E_EVENTSTORE;
  return store === 'postgres' || store === 'esdb' ? store : 'sqlite';
};

/** What the `e2e-postgres` project needs, named as a skip or a CI failure names it. */
export const POSTGRES_REQUIREMENT = `PostgreSQL at ${new URL(PG_TEST_URL).host} (see .ci/run)`;

/** Every database the servers of this test file were given: dropped when the file ends, however it ended. */
const databases = new Set<TestDatabase>();

/** A fresh database for one ServerProcess (kept across its restarts), registered to be dropped at the end of the file. */
export const createServerDatabase = async (): Promise<TestDatabase> => {
  const database = new TestDatabase();
  databases.add(database); // before CREATE: DROP ... IF EXISTS covers a create that failed half-way
  await database.create();
  return database;
};

/**
 * Drops every database this file's servers were given (WITH (FORCE): a server left running is cut off). A database
 * with no event table was never opened by its server: the suite ran on some other store, which fails the file.
 */
export const dropServerDatabases = async (): Promise<void> => {
  const all = [...databases];
  databases.clear();
  const unused = async (database: TestDatabase): Promise<string | undefined> => {
    const [row] = await database.query<{ events: string | null }>("SELECT to_regclass('public.events')::text AS events");
    return row?.events === null ? database.name : undefined;
  };
  const found = await Promise.allSettled(all.map(unused));
  const dropped = await Promise.allSettled(all.map((d) => d.drop()));
  const failures = [...found, ...dropped].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
  if (failures.length > 0) throw new Error(`e2e databases: ${failures.join('; ')}`);
  const neverOpened = found.flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
  if (neverOpened.length > 0) throw new Error(`the server never opened its PostgreSQL event store (${neverOpened.join(', ')}): EVENTSTORE_URL did not reach it`);
};

/** Every stand-in this file's servers were given: closed when the file ends, however it ended. */
const standIns = new Set<EsdbStandIn>();

/**
 * A fresh EventStoreDB stand-in (TEST-ONLY, not EventStoreDB: test/support/esdb-stand-in) for one ServerProcess, kept
 * across its restarts (its log lives in the stand-in's process), closed at the end of the file. Its URL.
 */
export const createServerStandIn = async (): Promise<string> => {
  // System events every second, as a real server writes its own (every 30 s): the api must leave them out.
  const standIn = await startEsdbStandIn({ statsPeriodMs: 1000 });
  standIns.add(standIn);
  return standIn.url('esdb');
};

/**
 * Closes every stand-in of this file. One to which no application event was ever appended was never used by its
 * server: the suite ran on some other store, which fails the file.
 */
export const closeServerStandIns = async (): Promise<void> => {
  const all = [...standIns];
  standIns.clear();
  const unused = async (standIn: EsdbStandIn): Promise<string | undefined> =>
    (await standIn.events()).some((e) => !e.streamId.startsWith('$') && !e.type.startsWith('$')) ? undefined : standIn.url();
  const found = await Promise.allSettled(all.map(unused));
  await Promise.allSettled(all.map((s) => s.close()));
  const failures = found.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
  if (failures.length > 0) throw new Error(`e2e stand-ins: ${failures.join('; ')}`);
  const neverUsed = found.flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
  if (neverUsed.length > 0) throw new Error(`the server never wrote to its EventStoreDB stand-in (${neverUsed.join(', ')}): EVENTSTORE_URL did not reach it`);
};
