import { LATENCY_LOAD_FRACTION } from '../settings';
import { reservationRequests } from '../support/buyers';
import { BenchContext, RunningSystem, startBaseline, startEngine } from '../support/context';
import { LoadResult, openLoop, rateOf, warmThenMeasure } from '../support/load';
import { loud } from '../support/log';
import { createDatabase, PostgresProbe, probePostgres, runStatement } from '../support/postgres';
import { alsoJudged, cpuCost, judge, judgeAll, RowResult, skippedRow, Target } from '../support/report';
import { cpuText, loadDetails, loadNotes, unexpected } from './common';

/** Plenty of stock: nobody is ever refused for stock, every attempt is a new buyer and a durable 201. */
export const PLENTY = { totalStock: 1_000_000_000, shards: 8, perUserLimit: 1 } as const;

/** New buyers on a sale with plenty of stock, closed loop, warm-up then timed window. */
const measureReservations = async (ctx: BenchContext, system: RunningSystem, saleId: string, label: string): Promise<LoadResult> => {
  const load = reservationRequests({ auth: ctx.auth, saleId, keyPrefix: label.replace(/\W+/g, '') });
  return warmThenMeasure({
    label,
    baseUrl: system.baseUrl,
    connections: ctx.mode.connections,
    seconds: ctx.mode.timedSeconds,
    warmupSeconds: ctx.mode.warmupSeconds,
    next: load.next,
    sutPid: system.process.pid,
  });
};

/** The naive PostgreSQL service on the probed server (its own schema, tables reset at its start) under the same load. */
const naiveReservations = async (ctx: BenchContext, pg: PostgresProbe, row: number): Promise<LoadResult> => {
  const saleId = 'bench-sale';
  const naive = await startBaseline(ctx, `row${row}-naive-postgres`, 'naive-postgres', { PG_URL: pg.url, SALE_ID: saleId, STOCK: String(PLENTY.totalStock) });
  try {
    return await measureReservations(ctx, naive, saleId, `row ${row} naive PostgreSQL`);
  } finally {
    await naive.stop();
  }
};

const engineReservations = async (ctx: BenchContext, label: string, env: Record<string, string> = {}): Promise<LoadResult> => {
  const engine = await startEngine(ctx, label, env);
  try {
    const saleId = await engine.api.createSale(PLENTY);
    await engine.api.checkTokenEquivalence(saleId, 0);
    return await measureReservations(ctx, engine, saleId, label);
  } finally {
    await engine.stop();
  }
};

export interface DurableRows {
  readonly row2: RowResult;
  readonly row3?: RowResult;
  /** Row 2's measured peak of durable reservations/s, the input of row 5. */
  readonly peak: number;
  /** Row 2's naive PostgreSQL window (absent when PostgreSQL was unreachable), which row 8 reuses. */
  readonly naive?: LoadResult;
}

const ROW2_TARGET: Target = { kind: 'ratio-at-least', threshold: 10, text: '≥ 10×' };
/** Issue #23: durable reservations/s against bare Fastify's fixed 409s/s on the same core (row 1's baseline window). */
const ROW2_BARE_TARGET: Target = { kind: 'ratio-at-least', threshold: 0.5, text: '≥ 0.5×' };
const ROW3_TARGET: Target = { kind: 'ratio-at-least', threshold: 10, text: '≥ 10×' };

/**
 * Row 2: durable reservations/s (SQLITE_SYNCHRONOUS=FULL, the default group commit) against a naive PostgreSQL
 * service; row 3: the same load with SHARD_MAX_BATCH=1 against row 2's figure.
 */
export const durableRows = async (
  ctx: BenchContext,
  options: { readonly groupCommitRow: boolean; /** Row 1's bare Fastify 409s/s of this run, when row 1 ran. */ readonly bareFastify?: number },
): Promise<DurableRows> => {
  const engine = await engineReservations(ctx, 'row2-engine');
  const value = rateOf(engine, 201);

  const pg = await probePostgres();
  let baseline: LoadResult | undefined;
  let skipped: string | undefined;
  if (typeof pg === 'string') {
    skipped = `PostgreSQL unreachable (${pg})`;
    loud(`ROW 2 BASELINE SKIPPED: ${skipped}`);
  } else {
    baseline = await naiveReservations(ctx, pg, 2);
  }
  const baselineValue = baseline ? rateOf(baseline, 201) : null;
  const ratio2 = baselineValue ? value / baselineValue : null;
  const bare = options.bareFastify;
  const vsBare =
    bare !== undefined && bare > 0
      ? alsoJudged('vs bare Fastify', ROW2_BARE_TARGET, bare, value / bare)
      : alsoJudged('vs bare Fastify', ROW2_BARE_TARGET, null, null, 'row 1 did not run, so there is no bare Fastify figure of this run');
  const row2: RowResult = {
    id: 2,
    key: 'durable-reservations',
    title: 'durable reservations/s (SQLite FULL, group commit) vs naive PostgreSQL',
    metric: '201/s',
    value,
    baseline: { label: 'naive PostgreSQL', value: baselineValue },
    ratio: ratio2,
    target: ROW2_TARGET,
    also: [vsBare],
    pass: judgeAll(judge(ROW2_TARGET, value, ratio2), [vsBare]),
    cpu: cpuCost(engine.cpu.sut, value, '201'),
    ...(skipped === undefined ? {} : { skipped }),
    notes: [
      ...(bare !== undefined ? [`vs bare Fastify: ${Math.round(value).toLocaleString('en-US')} 201/s against row 1's ${Math.round(bare).toLocaleString('en-US')} 409/s of bare Fastify on the same core`] : []),
      `server CPU per 201: engine ${cpuText(engine, value)}${baseline && baselineValue ? `, naive PostgreSQL service ${cpuText(baseline, baselineValue)} (PostgreSQL itself not counted)` : ''}`,
      `every request a new buyer and key; totalStock 10^9 over ${PLENTY.shards} shards, perUserLimit 1, ${ctx.mode.connections} connections`,
      ...(typeof pg === 'string' ? [] : [`PostgreSQL ${pg.version} (fsync=${pg.fsync}, synchronous_commit=${pg.synchronousCommit}) is not pinned: its CPU shows as "other"`]),
      ...unexpected('engine', engine, 201),
      ...(baseline ? unexpected('naive PostgreSQL', baseline, 201) : []),
      ...loadNotes('engine', engine),
      ...(baseline ? loadNotes('naive PostgreSQL', baseline, true) : []),
    ],
    details: { engine: loadDetails(engine), ...(baseline ? { naivePostgres: loadDetails(baseline) } : {}), ...(typeof pg === 'string' ? {} : { postgres: pg }) },
  };

  const naive = baseline ? { naive: baseline } : {};
  if (!options.groupCommitRow) return { row2, peak: value, ...naive };
  // Group commit off at both levels: one command per shard append, one append per transaction.
  const unbatched = await engineReservations(ctx, 'row3-engine-batch1', { SHARD_MAX_BATCH: '1', SQLITE_COALESCE_APPENDS: 'off' });
  const batch1 = rateOf(unbatched, 201);
  const ratio3 = batch1 > 0 ? value / batch1 : null;
  const row3: RowResult = {
    id: 3,
    key: 'group-commit',
    title: 'group commit: default vs SHARD_MAX_BATCH=1 + SQLITE_COALESCE_APPENDS=off (row 2 load)',
    metric: '201/s',
    value,
    baseline: { label: 'no group commit', value: batch1 },
    ratio: ratio3,
    target: ROW3_TARGET,
    pass: judge(ROW3_TARGET, value, ratio3),
    cpu: cpuCost(engine.cpu.sut, value, '201'),
    notes: [
      `server CPU per 201: default ${cpuText(engine, value)} (row 2's window), no group commit ${cpuText(unbatched, batch1)}`,
      'the default figure is row 2\'s window; the baseline turns off both levels of group commit (shard batches and the store\'s per-turn transaction)',
      ...unexpected('SHARD_MAX_BATCH=1', unbatched, 201),
      ...loadNotes('SHARD_MAX_BATCH=1', unbatched),
    ],
    details: { batch1: loadDetails(unbatched) },
  };
  return { row2, row3, peak: value, ...naive };
};

const ROW5_TARGET: Target = { kind: 'value-below', threshold: 25, text: 'p99 < 25 ms' };
const ROW5_TAIL_TARGET: Target = { kind: 'value-below', threshold: 50, text: '< 50 ms' };

/** Row 5: latency of durable reservations at a constant 70% of row 2's peak, open loop. */
export const latencyRow = async (ctx: BenchContext, peak: number): Promise<RowResult> => {
  const rate = Math.max(1, Math.round(peak * LATENCY_LOAD_FRACTION));
  const engine = await startEngine(ctx, 'row5-engine');
  let result;
  try {
    const saleId = await engine.api.createSale(PLENTY);
    await engine.api.checkTokenEquivalence(saleId, 0);
    const load = reservationRequests({ auth: ctx.auth, saleId, keyPrefix: 'latency' });
    result = await openLoop({
      label: 'row 5 engine',
      baseUrl: engine.baseUrl,
      rate,
      warmupSeconds: ctx.mode.warmupSeconds,
      seconds: ctx.mode.timedSeconds,
      next: load.next,
      sutPid: engine.process.pid,
    });
  } finally {
    await engine.stop();
  }
  const { p50, p99, p999 } = result.latencyMs;
  const tail = alsoJudged('p99.9', ROW5_TAIL_TARGET, p999, null);
  const answered = rateOf(result, 201);
  return {
    id: 5,
    key: 'latency',
    title: `latency at ${Math.round(LATENCY_LOAD_FRACTION * 100)}% of row 2 peak (${rate.toLocaleString('en-US')} req/s, open loop): p50 / p99 / p99.9`,
    metric: `ms p99 (p50 ${p50}, p99.9 ${p999})`,
    value: p99,
    ratio: null,
    target: ROW5_TARGET,
    also: [tail],
    pass: judgeAll(judge(ROW5_TARGET, p99, null), [tail]),
    cpu: cpuCost(result.cpu.sut, answered, '201'),
    notes: [
      `server CPU per 201 at the constant rate: ${cpuText(result, answered)}`,
      `constant rate, latency measured from each request's due time (no coordinated omission); a new buyer per request`,
      ...unexpected('engine', result, 201),
      ...(result.responses < result.sent ? [`${result.sent - result.responses} of ${result.sent} timed requests never completed`] : []),
      ...loadNotes('engine', result),
    ],
    details: { offeredRate: rate, ...loadDetails(result), sent: result.sent },
  };
};

const ROW8_TARGET: Target = { kind: 'ratio-at-least', threshold: 5, text: '≥ 5×' };
const ROW8_TITLE = 'durable reservations/s on the PostgreSQL event store (EVENTSTORE_URL) vs naive PostgreSQL, same server';

/**
 * Row 8: row 2's load on the engine with its event store on PostgreSQL (a database of the row's own, created before the
 * engine starts and dropped after it stops) against the naive PostgreSQL service on the same server: the same database
 * engine on both sides, so the ratio is what group commit and the shard funnel buy. Row 2's naive window is reused when
 * row 2 ran in this process; otherwise the baseline is measured here.
 */
export const postgresStoreRow = async (ctx: BenchContext, row2Naive?: LoadResult): Promise<RowResult> => {
  const pg = await probePostgres();
  if (typeof pg === 'string') return skippedRow(8, 'postgres-event-store', ROW8_TITLE, '201/s', ROW8_TARGET, `PostgreSQL unreachable (${pg})`);
  const database = await createDatabase(pg, 'flash_bench_es');
  let engine: LoadResult;
  let events: number;
  try {
    engine = await engineReservations(ctx, 'row8-engine-postgres', { EVENTSTORE_URL: database.url });
    // Fails (no such table) when the engine never opened this database: the figure would not be PostgreSQL's.
    events = Number((await runStatement<{ n: string }>(database.url, 'SELECT count(*) AS n FROM public.events'))[0]?.n);
  } finally {
    await database.drop();
  }
  const baseline = row2Naive ?? (await naiveReservations(ctx, pg, 8));
  const value = rateOf(engine, 201);
  const baselineValue = rateOf(baseline, 201);
  const ratio = baselineValue > 0 ? value / baselineValue : null;
  return {
    id: 8,
    key: 'postgres-event-store',
    title: ROW8_TITLE,
    metric: '201/s',
    value,
    baseline: { label: 'naive PostgreSQL', value: baselineValue },
    ratio,
    target: ROW8_TARGET,
    pass: judge(ROW8_TARGET, value, ratio),
    cpu: cpuCost(engine.cpu.sut, value, '201'),
    notes: [
      `server CPU per 201: engine ${cpuText(engine, value)} (PostgreSQL's own CPU is "other", not counted)`,
      `row 2's load and request shape; the engine on a fresh database of its own (${events.toLocaleString('en-US')} events appended, dropped after the run)`,
      row2Naive ? "the baseline is row 2's naive PostgreSQL window of this run" : 'the baseline was measured by this row (row 2 did not run)',
      `PostgreSQL ${pg.version} (fsync=${pg.fsync}, synchronous_commit=${pg.synchronousCommit}) is not pinned: its CPU shows as "other" on both sides`,
      ...unexpected('engine on PostgreSQL', engine, 201),
      ...unexpected('naive PostgreSQL', baseline, 201),
      ...loadNotes('engine on PostgreSQL', engine, true),
      ...loadNotes('naive PostgreSQL', baseline, true),
    ],
    details: { engine: loadDetails(engine), naivePostgres: loadDetails(baseline), eventsAppended: events, baselineFromRow2: row2Naive !== undefined, postgres: pg },
  };
};
