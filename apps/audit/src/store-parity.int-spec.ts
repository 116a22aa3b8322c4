import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PostgresEventStore, SqliteEventStore } from '@flash/event-store';
import { CHECKPOINT_COLLECTION, DocumentStore, POINTER_COLLECTION } from '@flash/read-models';
import { openDocumentStore } from '@flash/runtime';
import { describeWithPostgres, TestDatabase } from '../../../libs/event-store/test/postgres-support';
import { tempDir } from '../test/audit-log';
import { BUYERS, history, write } from '../test/parity-history';
import { CliRun, PROJECTIONS_CLI, runAuditCli } from '../test/run-audit-cli';
import { AuditVerdict } from './audit-model';
import { ReplayReport } from './commands/replay';
import { ExportCheck } from './hash-chain';

/** The wall-clock times a rebuild writes beside its checkpoint and its switch: when it ran, not what it read. */
const WALL_CLOCK_FIELDS = new Set(['updatedAt', 'switchedAt']);
const BOOKKEEPING = new Set([CHECKPOINT_COLLECTION, POINTER_COLLECTION]);

/** Every document of every collection, in a stable order (the bookkeeping's without its wall-clock times). */
const documents = async (docs: DocumentStore): Promise<Record<string, unknown[]>> => {
  const all: Record<string, unknown[]> = {};
  for (const collection of (await docs.collections()).sort()) {
    const { rows, truncated } = await docs.aggregate(collection, [], { maxRows: 100_000, maxTimeMs: 30_000 });
    expect(truncated).toBe(false);
    const kept = BOOKKEEPING.has(collection) ? rows.map((row) => Object.fromEntries(Object.entries(row).filter(([key]) => !WALL_CLOCK_FIELDS.has(key)))) : rows;
    all[collection] = kept.map((row) => JSON.stringify(row)).sort();
  }
  return all;
};

interface Target {
  readonly label: string;
  /** DATA_DIR: the SQLite log for one, the read models (and the export) for both. */
  readonly dataDir: string;
  readonly env: Record<string, string>;
}

describeWithPostgres('the audit and projections CLIs give the same reports from SQLite and from PostgreSQL', () => {
  const db = new TestDatabase();
  /** A database with no event store in it: the CLI must refuse it, not create one. */
  const empty = new TestDatabase();
  const log = history();
  const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dirs: string[] = [];
  let sqlite: Target;
  let postgres: Target;

  beforeAll(async () => {
    await db.create();
    await empty.create();
    const eventIds = log.events.map(() => randomUUID());
    let now = 0;
    const sqliteDir = tempDir('flash-parity-sqlite-');
    const sqliteStore = new SqliteEventStore({ file: path.join(sqliteDir, 'events.sqlite'), now: () => now });
    await write(sqliteStore, log, eventIds, (at) => (now = at));
    await sqliteStore.close();
    const pgStore = await PostgresEventStore.connect(db.url, { now: () => now });
    await write(pgStore, log, eventIds, (at) => (now = at));
    await pgStore.close();
    const pgDir = tempDir('flash-parity-postgres-');
    dirs.push(sqliteDir, pgDir);
    sqlite = { label: 'sqlite', dataDir: sqliteDir, env: { AUDIT_SIGNING_KEY: signingKey } };
    postgres = { label: 'postgres', dataDir: pgDir, env: { AUDIT_SIGNING_KEY: signingKey, EVENTSTORE_URL: db.url } };
  });

  afterAll(async () => {
    await db.drop();
    await empty.drop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the same command line against both stores; both must succeed. */
  const both = async <Report>(args: (t: Target) => string[], cli?: string): Promise<[CliRun<Report>, CliRun<Report>]> => {
    const runs: Array<CliRun<Report>> = [];
    for (const t of [sqlite, postgres]) {
      const run = await runAuditCli<Report>(args(t), t.env, cli);
      expect({ store: t.label, exitCode: run.exitCode, stderr: run.stderr }).toEqual({ store: t.label, exitCode: 0, stderr: '' });
      runs.push(run);
    }
    return runs as [CliRun<Report>, CliRun<Report>];
  };

  it('audit verify: the same verdict, positions and counts', async () => {
    const [fromSqlite, fromPostgres] = await both<AuditVerdict>((t) => ['verify', '--data-dir', t.dataDir]);
    expect(fromSqlite.report).toMatchObject({ ok: true, position: log.events.length, events: log.events.length });
    expect(fromPostgres.report).toEqual(fromSqlite.report);
  });

  it('audit replay --until a position: the same state at that point', async () => {
    const until = Math.floor(log.events.length * 0.6);
    const [fromSqlite, fromPostgres] = await both<ReplayReport>((t) => ['replay', '--data-dir', t.dataDir, '--until', String(until)]);
    expect(fromSqlite.report).toMatchObject({ position: until, events: until });
    expect(fromPostgres.report).toEqual(fromSqlite.report);
  });

  it('audit export: byte-identical files (jsonb key order does not leak into the hashes), each passing verify-export', async () => {
    const out = (t: Target): string => path.join(t.dataDir, 'export.jsonl');
    const [fromSqlite, fromPostgres] = await both<Record<string, unknown>>((t) => ['export', '--data-dir', t.dataDir, '--out', out(t)]);
    expect(fromSqlite.report).toMatchObject({ ok: true, count: log.events.length, keySource: 'env' });
    expect({ ...fromPostgres.report, out: undefined }).toEqual({ ...fromSqlite.report, out: undefined });
    expect(fs.readFileSync(out(postgres), 'utf8')).toBe(fs.readFileSync(out(sqlite), 'utf8'));

    const [checkSqlite, checkPostgres] = await both<ExportCheck>((t) => ['verify-export', out(t)]);
    expect(checkSqlite.report).toMatchObject({ ok: true, events: log.events.length });
    expect({ ...checkPostgres.report, file: undefined }).toEqual({ ...checkSqlite.report, file: undefined });
  });

  it('projections rebuild and status: the same read-model documents, the same positions', async () => {
    const [rebuiltSqlite, rebuiltPostgres] = await both<Record<string, unknown>>((t) => ['rebuild', 'analytics', '--data-dir', t.dataDir], PROJECTIONS_CLI);
    const stable = ({ projection, generation, position }: Record<string, unknown>) => ({ projection, generation, position });
    expect(stable(rebuiltSqlite.report)).toEqual({ projection: 'analytics', generation: expect.any(Number), position: log.events.length });
    expect(stable(rebuiltPostgres.report)).toEqual(stable(rebuiltSqlite.report));

    const [statusSqlite, statusPostgres] = await both<unknown[]>((t) => ['status', '--data-dir', t.dataDir], PROJECTIONS_CLI);
    expect(statusPostgres.report).toEqual(statusSqlite.report);

    const read = async (t: Target): Promise<Record<string, unknown[]>> => {
      const docs = await openDocumentStore({ dataDir: t.dataDir, mongoUrl: undefined, inMemoryStore: false });
      try {
        return await documents(docs);
      } finally {
        await docs.close();
      }
    };
    const fromSqlite = await read(sqlite);
    expect(Object.values(fromSqlite).flat().length).toBeGreaterThan(BUYERS);
    expect(await read(postgres)).toEqual(fromSqlite);
  });

  it('exits 2 with a clear message for an EVENTSTORE_URL of no supported store, and for a database without an event store', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ EVENTSTORE_URL: 'esdb://127.0.0.1:1?tls=false' }, /EVENTSTORE_URL: cannot reach EventStoreDB at esdb:\/\/127\.0\.0\.1:1/],
      [{ EVENTSTORE_URL: empty.url }, /EVENTSTORE_URL: cannot open the PostgreSQL event store at .*no event store there/],
    ];
    for (const [env, message] of cases) {
      const run = await runAuditCli(['verify', '--data-dir', sqlite.dataDir], env);
      expect({ exitCode: run.exitCode, stdout: run.stdout }).toEqual({ exitCode: 2, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
    expect(await empty.query("SELECT 1 FROM pg_tables WHERE tablename IN ('events', 'head')")).toEqual([]);
  });
});
