import fs from 'node:fs';
import path from 'node:path';
import { buyerStream, inventoryStream } from '@flash/domain';
import { SqliteEventStore } from '@flash/event-store';
import { AuditLog, dataDirWith, saleDefinition, T0, tempDir } from '../test/audit-log';
import { runAuditCli } from '../test/run-audit-cli';
import { AuditVerdict, DEFAULT_EXPIRY_GRACE_MS, Violation } from './audit-model';
import { ReplayReport } from './commands/replay';
import { verifyCommand } from './commands/verify';

const SECOND = 1000;
const sale = saleDefinition({ saleId: 'sale-cli', totalStock: 4, shards: 2, perUserLimit: 1, holdTtlMs: 60 * SECOND, price: 250 });

const dirs: string[] = [];
const dataDir = async (log: AuditLog): Promise<string> => {
  const dir = await dataDirWith(log);
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const violationsOf = (verdict: AuditVerdict): Violation[] => verdict.sales.flatMap((s) => s.violations);

/** Two buyers, one paid in time, one still holding: what the deciders would write. */
const cleanLog = (): AuditLog => {
  const log = new AuditLog().scheduleSale(sale);
  const paid = log.purchase(sale, 0, 'alice', 'alice-key-1', 1, T0 + SECOND);
  log.pay(sale, 0, paid, 'pay-alice', 250, T0 + 5 * SECOND);
  log.purchase(sale, 1, 'bob', 'bob-key-1', 1, T0 + 6 * SECOND);
  return log;
};

describe('audit verify, run as the built CLI on a SQLite data dir written around the deciders', () => {
  it('exits 0 on a clean history and prints the per-shard units', async () => {
    const log = cleanLog();
    const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', await dataDir(log)]);

    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe(''); // quiet when stderr is not a terminal
    expect(run.report).toMatchObject({ ok: true, position: log.events.length, events: log.events.length, logViolations: [] });
    expect(run.report.now).toBe(new Date(log.last.recordedAt).toISOString());
    expect(run.report.sales).toEqual([
      {
        saleId: 'sale-cli',
        allocated: 4,
        reserved: 2,
        paid: 1,
        released: 0,
        expired: 0,
        cancelled: 0,
        available: 2,
        shards: [
          { shard: 0, allocated: 2, reserved: 1, paid: 1, released: 0, available: 1 },
          { shard: 1, allocated: 2, reserved: 1, paid: 0, released: 0, available: 1 },
        ],
        violations: [],
      },
    ]);
  });

  it('exits 1 on an oversold shard and names its stream and position', async () => {
    const log = new AuditLog().scheduleSale(sale);
    log.purchase(sale, 1, 'u1', 'key-0001', 1, T0 + SECOND);
    log.purchase(sale, 1, 'u2', 'key-0002', 1, T0 + SECOND);
    log.purchase(sale, 1, 'u3', 'key-0003', 1, T0 + SECOND); // shard 1 has 2 units
    const overselling = log.events.filter((e) => e.event.type === 'StockReserved')[2]!;

    const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', await dataDir(log)]);

    expect(run.exitCode).toBe(1);
    expect(run.report.ok).toBe(false);
    expect(violationsOf(run.report)).toEqual([
      expect.objectContaining({ invariant: 'never-oversold', stream: inventoryStream('sale-cli', 1), revision: 4, position: overselling.position }),
    ]);
    expect(run.report.sales[0]?.shards[1]).toEqual({ shard: 1, allocated: 2, reserved: 3, paid: 0, released: 0, available: -1 });
  });

  it('exits 1 on a payment after expiry that was recorded as OrderPaid instead of a refund', async () => {
    const log = new AuditLog().scheduleSale(sale);
    const orderId = log.purchase(sale, 0, 'late', 'late-key-1', 1, T0);
    log.pay(sale, 0, orderId, 'pay-late', 250, T0 + sale.holdTtlMs + 500);
    const payment = log.last;

    const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', await dataDir(log)]);

    expect(run.exitCode).toBe(1);
    expect(violationsOf(run.report)).toEqual([
      {
        invariant: 'paid-on-live-reservation',
        message: expect.stringContaining('after its hold expired'),
        stream: inventoryStream('sale-cli', 0),
        revision: 2,
        position: payment.position,
      },
    ]);
  });

  it('exits 1 on a buyer holding more than the per-user limit', async () => {
    const log = new AuditLog().scheduleSale(sale);
    log.purchase(sale, 0, 'greedy', 'greedy-key-1', 1, T0);
    log.purchase(sale, 1, 'greedy', 'greedy-key-2', 1, T0 + SECOND); // limit is 1
    const breach = log.events.filter((e) => e.event.type === 'QuotaClaimed')[1]!;

    const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', await dataDir(log)]);

    expect(run.exitCode).toBe(1);
    expect(violationsOf(run.report)).toEqual([
      expect.objectContaining({ invariant: 'per-user-limit', stream: buyerStream('sale-cli', 'greedy'), revision: 1, position: breach.position }),
    ]);
  });

  it('judges holds at --now with --expiry-grace-ms, and audits only the sale of --sale', async () => {
    const other = saleDefinition({ saleId: 'sale-other', totalStock: 1, shards: 1 });
    const log = cleanLog().scheduleSale(other);
    log.purchase(other, 0, 'x', 'key-x-0001', 1, T0);
    log.purchase(other, 0, 'y', 'key-y-0001', 1, T0); // oversold, but not in sale-cli
    const dir = await dataDir(log);
    const bobExpiresAt = T0 + 6 * SECOND + sale.holdTtlMs;

    const inGrace = await runAuditCli<AuditVerdict>(['verify', '--data-dir', dir, '--sale', 'sale-cli', '--now', new Date(bobExpiresAt + DEFAULT_EXPIRY_GRACE_MS).toISOString()]);
    const late = await runAuditCli<AuditVerdict>(['verify', '--data-dir', dir, '--sale', 'sale-cli', '--now', String(bobExpiresAt + 10), '--expiry-grace-ms', '0']);

    expect(inGrace.exitCode).toBe(0);
    expect(inGrace.report.sales.map((s) => s.saleId)).toEqual(['sale-cli']);
    expect(late.exitCode).toBe(1);
    expect(violationsOf(late.report)).toEqual([expect.objectContaining({ invariant: 'hold-ended', stream: inventoryStream('sale-cli', 1) })]);
  });

  it('finds the same verdict in-process as through the CLI', async () => {
    const dir = await dataDir(cleanLog());
    const result = await verifyCommand({ dataDir: dir }, { stderr: process.stderr, env: {} });
    const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', dir]);
    expect(result.exitCode).toBe(0);
    expect(result.report).toEqual(run.report);
  });

  it('reads DATA_DIR when no --data-dir is given, and never writes to the store', async () => {
    const log = cleanLog();
    const dir = await dataDir(log);
    const file = path.join(dir, 'events.sqlite');
    const before = fs.readFileSync(file);

    const run = await runAuditCli<AuditVerdict>(['verify'], { DATA_DIR: dir });

    expect(run.exitCode).toBe(0);
    expect(run.report.events).toBe(log.events.length);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });
});

describe('audit replay, run as the built CLI', () => {
  it('gives the state at a position and at a time, stopping before the first event past it', async () => {
    const log = cleanLog();
    const dir = await dataDir(log);
    const alicePaid = log.events.find((e) => e.event.type === 'OrderPaid')!;
    // Just before alice's payment (T0 + 5 s); bob arrives at T0 + 6 s.
    const atPosition = await runAuditCli<ReplayReport>(['replay', '--data-dir', dir, '--until', String(alicePaid.position - 1)]);
    const atTime = await runAuditCli<ReplayReport>(['replay', '--data-dir', dir, '--until', new Date(T0 + 5 * SECOND).toISOString()]);

    expect(atPosition.exitCode).toBe(0);
    expect(atPosition.report).toMatchObject({ until: { position: alicePaid.position - 1 }, position: alicePaid.position - 1, events: alicePaid.position - 1 });
    expect(atPosition.report.sales[0]).toMatchObject({ reserved: 1, paid: 0, available: 3 });
    expect(atTime.report).toMatchObject({ until: { time: new Date(T0 + 5 * SECOND).toISOString() }, position: alicePaid.position });
    expect(atTime.report.sales[0]).toMatchObject({ reserved: 1, paid: 1, available: 3 });
    expect(atTime.report.sales[0]?.shards).toEqual([
      { shard: 0, allocated: 2, reserved: 1, paid: 1, released: 0, available: 1 },
      { shard: 1, allocated: 2, reserved: 0, paid: 0, released: 0, available: 2 },
    ]);
  });
});

describe('audit usage errors', () => {
  it('exits 2 with a clear message, printing nothing on stdout', async () => {
    const dir = await dataDir(cleanLog());
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['verify', '--data-dir', dir], { EVENTSTORE_URL: 'esdb://127.0.0.1:1?tls=false' }, /EVENTSTORE_URL: cannot reach EventStoreDB/],
      [['verify', '--data-dir', tempDir('flash-audit-empty-')], {}, /no event store at/],
      [['replay', '--data-dir', dir], {}, /--until is required/],
      [['replay', '--data-dir', dir, '--until', 'yesterday'], {}, /--until must be a position or an ISO-8601 time/],
      [['verify', '--data-dir', dir, '--sale', 'no-such-sale'], {}, /sale no-such-sale has no events/],
      [['verify', '--data-dir', dir, '--colour'], {}, /Unknown option '--colour'/],
      [['frobnicate'], {}, /unknown command "frobnicate"/],
    ];
    for (const [args, env, message] of cases) {
      const run = await runAuditCli(args, env);
      expect({ args, exitCode: run.exitCode, stdout: run.stdout }).toEqual({ args, exitCode: 2, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
  });

  it('opens a store that a writer still holds open', async () => {
    const dir = await dataDir(cleanLog());
    const writer = new SqliteEventStore({ file: path.join(dir, 'events.sqlite') });
    try {
      const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', dir]);
      expect(run.exitCode).toBe(0);
    } finally {
      await writer.close();
    }
  });
});
