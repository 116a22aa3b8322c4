import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as clientPackage from '@eventstore/db-client';
import { clientModule, EsdbEventStore, SqliteEventStore } from '@flash/event-store';
import { EsdbStandIn, startEsdbStandIn } from '../../../test/support/esdb-stand-in/esdb-stand-in';
import { tempDir } from '../test/audit-log';
import { history, write } from '../test/parity-history';
import { CliRun, PROJECTIONS_CLI, runAuditCli } from '../test/run-audit-cli';
import { AuditVerdict } from './audit-model';
import { ReplayReport } from './commands/replay';

/**
 * The audit and projections CLIs on EventStoreDB (EVENTSTORE_URL=esdb://…): here the TEST-ONLY stand-in, NOT
 * EventStoreDB. One generated history is written to it and to SQLite; the reports agree in everything but the
 * positions, which are sparse (log offsets) on EventStoreDB.
 */
describe('the audit and projections CLIs on EventStoreDB (the test-only stand-in)', () => {
  const log = history();
  const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let standIn: EsdbStandIn;
  let esdbPositions: number[] = [];
  const sqliteDir = tempDir('flash-esdb-cli-sqlite-');
  const esdbDir = tempDir('flash-esdb-cli-esdb-');
  const env = (): Record<string, string> => ({ AUDIT_SIGNING_KEY: signingKey, EVENTSTORE_URL: standIn.url('esdb') });

  beforeAll(async () => {
    standIn = await startEsdbStandIn({ statsPeriodMs: 200 });
    const eventIds = log.events.map(() => randomUUID());
    const sqlite = new SqliteEventStore({ file: path.join(sqliteDir, 'events.sqlite'), now: () => 0 });
    await write(sqlite, log, eventIds, () => undefined);
    await sqlite.close();
    const esdb = await EsdbEventStore.connect({ url: standIn.url('esdb'), client: clientModule(clientPackage) });
    await write(esdb, log, eventIds, () => undefined);
    esdbPositions = (await esdb.readAll({ after: 0, maxCount: 1_000_000 })).map((e) => e.position);
    await esdb.close();
  }, 120_000);

  afterAll(async () => {
    await standIn.close();
    for (const dir of [sqliteDir, esdbDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  const ok = <Report>(run: CliRun<Report>): Report => {
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
    return run.report;
  };

  it('audit verify: the same verdict as from SQLite, through the last (sparse) position', async () => {
    const fromSqlite = ok(await runAuditCli<AuditVerdict>(['verify', '--data-dir', sqliteDir]));
    const fromEsdb = ok(await runAuditCli<AuditVerdict>(['verify', '--data-dir', esdbDir], env()));
    expect(esdbPositions).toHaveLength(log.events.length);
    expect(fromEsdb).toMatchObject({ ok: true, events: log.events.length, position: esdbPositions.at(-1) });
    // Positions are the store's own, and `now` is the last event's recordedAt: the server's clock, not the history's.
    expect({ ...fromEsdb, position: 0, now: 0 }).toEqual({ ...fromSqlite, position: 0, now: 0 });
  });

  it('audit replay --until a position the store gave: exactly the events up to it', async () => {
    const n = Math.floor(log.events.length * 0.6);
    const until = esdbPositions[n - 1] as number;
    const report = ok(await runAuditCli<ReplayReport>(['replay', '--data-dir', esdbDir, '--until', String(until)], env()));
    expect(report).toMatchObject({ position: until, events: n });
  });

  it('projections rebuild and status: caught up at the head, no events behind', async () => {
    const rebuilt = ok(await runAuditCli<Record<string, unknown>>(['rebuild', 'analytics', '--data-dir', esdbDir], env(), PROJECTIONS_CLI));
    // Events counted by reading: on sparse positions the last position says nothing about how many there were.
    expect(rebuilt).toMatchObject({ projection: 'analytics', position: esdbPositions.at(-1), events: log.events.length });
    const status = ok(await runAuditCli<Array<Record<string, unknown>>>(['status', '--data-dir', esdbDir], env(), PROJECTIONS_CLI));
    expect(status).toContainEqual(expect.objectContaining({ projection: 'analytics', position: esdbPositions.at(-1), head: esdbPositions.at(-1), lagEvents: 0 }));
  });
});
