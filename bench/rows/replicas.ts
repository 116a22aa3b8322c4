import os from 'node:os';
import { DEFAULT_OVERLOAD_SETTINGS } from '@flash/access';
import { reservationRequests } from '../support/buyers';
import { BenchContext, RunningSystem, startEngine } from '../support/context';
import { GroupCpu, postgresPids } from '../support/cpu';
import { LoadResult, rateOf, warmThenMeasure } from '../support/load';
import { loud, progress } from '../support/log';
import { BenchDatabase, createDatabase, PostgresProbe, probePostgres, runStatement } from '../support/postgres';
import { sleep } from '../support/processes';
import { PrivateRedis, redisServerOnPath, startPrivateRedis } from '../support/redis';
import { cpuCost, judge, RowResult, skippedRow, Target } from '../support/report';
import { loadDetails, loadNotes, unexpected } from './common';
import { PLENTY } from './durable';

const ID = 10;
const KEY = 'replicas';
/** Issue #22: a second replica on the same store must not lower what the deployment sells per second. */
const TARGET: Target = { kind: 'ratio-at-least', threshold: 1, text: '≥ 1× (must not fall)' };
const TITLE = 'scale-out: durable reservations/s, two api replicas (a core each) vs one, on one PostgreSQL store and one Redis';
/** How long the end of a window waits for the answers in flight (each is a durable append, well under this). */
const DRAIN_MS = 10_000;
/**
 * The warm-up lasts at least two of the api's overload windows. A replica sheds (503 OVERLOADED) for a whole window
 * after one whose p99 event-loop delay was high, and its first second under load (code not yet compiled, the log the
 * other replica wrote meanwhile) is such a window: with smoke mode's 0.5 s warm-up, the second replica on a shared core
 * shed its whole 1 s timed window (500 of its 532 answers), under CI's load all of it. Full mode's 2 s are unchanged.
 */
const MIN_WARMUP_SECONDS = (2 * DEFAULT_OVERLOAD_SETTINGS.windowMs) / 1000;
/** How many windows the headline side (two replicas on a core each) gets, each followed by one of the one replica. */
const SPREAD_WINDOWS = 2;
const SHARD_METRICS = ['shard_occ_conflicts_total', 'shard_append_batch_size_count', 'shard_append_batch_size_sum', 'shard_guest_reservations_total'] as const;

/** One replica's shard writers over the timed window, from its /metrics (ShardWriter's counters). */
interface WriterCounts {
  readonly appends: number;
  readonly commands: number;
  readonly conflicts: number;
  /** Reservations decided on a shard another replica owned (ownership moving, or its own ran dry): each reads that shard first. */
  readonly guests: number;
}

/** The store's own count of what was reserved on the sale, read from the events table after every replica stopped. */
interface StoreCount {
  readonly reservations: number;
  readonly orders: number;
  readonly buyers: number;
  readonly units: number;
}

/** What the load generator was told, over the warm-up and the timed window, with the answers in flight at their ends. */
interface Acknowledged {
  readonly sent: number;
  /** Answered 201. */
  readonly reserved: number;
  /**
   * Answered otherwise, or never answered: not told of a reservation, though one may exist (a 503 after a shard's
   * conflicts ran out says "retry with the same key": its outcome is unknown to the buyer).
   */
  readonly uncertain: number;
}

interface Side {
  readonly replicas: number;
  /** Each replica (and its worker) pinned to a core of its own, instead of all on the SUT core. */
  readonly spread: boolean;
  /** Which window of this side it is (1, 2, …): the sides alternate, so that each is measured over the run's drift. */
  readonly window: number;
  readonly load: LoadResult;
  readonly writers: readonly WriterCounts[];
  readonly store: StoreCount;
  readonly acknowledged: Acknowledged;
  readonly eventsAppended: number;
  /** The replicas' last log lines (LOG_LEVEL=warn) when some answer was not a 201: why they refused. */
  readonly logTails?: readonly string[];
  /** What the store's count contradicts (accountingProblems), with the orders reserved twice: empty when sound. */
  readonly problems: readonly string[];
}

const writerCounts = async (engine: RunningSystem): Promise<WriterCounts> => {
  const m = await engine.api.metricSums(SHARD_METRICS);
  return {
    appends: m.shard_append_batch_size_count ?? NaN,
    commands: m.shard_append_batch_size_sum ?? NaN,
    conflicts: m.shard_occ_conflicts_total ?? NaN,
    guests: m.shard_guest_reservations_total ?? 0,
  };
};

const minus = (a: WriterCounts, b: WriterCounts): WriterCounts => ({ appends: a.appends - b.appends, commands: a.commands - b.commands, conflicts: a.conflicts - b.conflicts, guests: a.guests - b.guests });

const waitForSale = async (engine: RunningSystem, saleId: string): Promise<void> => {
  const deadline = Date.now() + 15_000;
  while ((await engine.api.publicSale(saleId)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`${engine.label} did not learn of sale ${saleId} from the store within 15 s`);
    await sleep(50);
  }
};

const acknowledgedOf = (windows: readonly (LoadResult | undefined)[]): Acknowledged => {
  let sent = 0;
  let reserved = 0;
  for (const w of windows) {
    if (!w) continue;
    if (!w.drained) throw new Error('a window of this row was not drained: its answers in flight are unknown');
    sent += w.drained.sent;
    for (const counts of [w.statuses, w.drained.statuses]) reserved += counts['201'] ?? 0;
  }
  return { sent, reserved, uncertain: sent - reserved };
};

const countStore = async (url: string, saleId: string): Promise<{ store: StoreCount; events: number }> => {
  const [row] = await runStatement<{ events: string; reservations: string; orders: string; buyers: string; units: string }>(
    url,
    `SELECT count(*) AS events,
            count(*) FILTER (WHERE type = 'StockReserved' AND data->>'saleId' = $1) AS reservations,
            count(DISTINCT data->>'orderId') FILTER (WHERE type = 'StockReserved' AND data->>'saleId' = $1) AS orders,
            count(DISTINCT data->>'userId') FILTER (WHERE type = 'StockReserved' AND data->>'saleId' = $1) AS buyers,
            coalesce(sum((data->>'quantity')::int) FILTER (WHERE type = 'StockReserved' AND data->>'saleId' = $1), 0) AS units
       FROM public.events`,
    [saleId],
  );
  if (!row) throw new Error('counting the events table returned no row');
  return {
    events: Number(row.events),
    store: { reservations: Number(row.reservations), orders: Number(row.orders), buyers: Number(row.buyers), units: Number(row.units) },
  };
};

/** Where each order reserved more than once was reserved (at most 5 orders): the evidence an oversell report needs. */
const ordersReservedTwice = async (url: string, saleId: string): Promise<unknown[]> =>
  runStatement(
    url,
    `SELECT data->>'orderId' AS "orderId", json_agg(json_build_object('stream', stream_id, 'revision', revision, 'position', position, 'recordedAt', recorded_at) ORDER BY position) AS reserved
       FROM public.events WHERE type = 'StockReserved' AND data->>'saleId' = $1
      GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5`,
    [saleId],
  );

/**
 * What must hold whatever the speed: no more sold than the stock, no order or buyer (perUserLimit 1) reserved twice,
 * every 201 in the store, and nothing in the store that the buyers were not told of, short of answers whose outcome
 * was unknown to them (none, normally: then reserved = acknowledged exactly).
 */
const accountingProblems = (side: Pick<Side, 'store' | 'acknowledged'>): string[] => {
  const { store, acknowledged: ack } = side;
  const problems: string[] = [];
  if (store.units > PLENTY.totalStock) problems.push(`sold ${store.units} units of a stock of ${PLENTY.totalStock}`);
  if (store.orders !== store.reservations) problems.push(`${store.reservations} StockReserved events for ${store.orders} orders`);
  if (store.buyers !== store.reservations) problems.push(`${store.reservations} reservations by ${store.buyers} buyers with perUserLimit 1`);
  if (store.reservations < ack.reserved) problems.push(`${ack.reserved} answered 201 but ${store.reservations} reservations in the store`);
  if (store.reservations > ack.reserved + ack.uncertain) problems.push(`${store.reservations} reservations in the store, only ${ack.reserved} answered 201 and ${ack.uncertain} of unknown outcome`);
  return problems;
};

/**
 * One side of the row: `replicas` api processes on a fresh database and a fresh Redis of their own, row 8's load split
 * evenly over them (the connections, each keeping its replica), every request sent accounted for at the end.
 */
const measureSide = async (ctx: BenchContext, pg: PostgresProbe, replicas: number, { spread = false, window = 1 } = {}): Promise<Side> => {
  const label = `row ${ID} ${sideName({ replicas, spread, window })}`;
  const tag = `${replicas}x${spread ? '-spread' : ''}${window > 1 ? `-w${window}` : ''}`;
  let database: BenchDatabase | undefined;
  let redis: PrivateRedis | undefined;
  const engines: RunningSystem[] = [];
  try {
    database = await createDatabase(pg, 'flash_bench_replicas');
    redis = await startPrivateRedis(ctx.placement);
    // One after the other: the first creates the store's tables, the others find them.
    for (let i = 1; i <= replicas; i++) {
      // Spread: replica i on core i-1 (the second one shares core 1 with the load generator on a two-core machine).
      const placed = spread ? { ...ctx, placement: { ...ctx.placement, sutCore: (ctx.placement.sutCore + i - 1) % os.cpus().length } } : ctx;
      engines.push(await startEngine(placed, `row${ID}-${tag}-replica${i}`, { EVENTSTORE_URL: database.url, REDIS_URL: redis.url }));
    }
    const [first] = engines;
    if (!first) throw new Error('no replica started');
    const saleId = await first.api.createSale(PLENTY);
    for (const engine of engines) {
      await waitForSale(engine, saleId);
      await engine.api.checkTokenEquivalence(saleId, 0);
    }
    const requests = reservationRequests({ auth: ctx.auth, saleId, keyPrefix: `row${ID}x${tag}` });
    let before: WriterCounts[] = [];
    const load = await warmThenMeasure({
      label,
      baseUrl: engines.map((e) => e.baseUrl),
      connections: ctx.mode.connections,
      seconds: ctx.mode.timedSeconds,
      warmupSeconds: Math.max(ctx.mode.warmupSeconds, MIN_WARMUP_SECONDS),
      next: requests.next,
      sutPid: engines.map((e) => e.process.pid),
      // Where a second replica's CPU goes (the fourteenth session's question): each kind of process apart.
      processGroups: {
        apis: engines.map((e) => e.process.pid),
        workers: engines.flatMap((e) => (e.worker ? [e.worker.pid] : [])),
        postgres: postgresPids,
        redis: [redis.pid],
      },
      drainMs: DRAIN_MS,
      beforeTimed: async () => {
        before = await Promise.all(engines.map(writerCounts));
      },
    });
    const after = await Promise.all(engines.map(writerCounts));
    const writers = after.map((a, i) => minus(a, before[i] ?? a));
    const refused = Object.keys(load.statuses).some((status) => status !== '201');
    const logTails = refused ? engines.map((e) => e.process.logs.slice(-3000)) : undefined;
    // Every replica drains and stops before the store is counted: nothing is in flight when it is read.
    await Promise.all(engines.splice(0).map((e) => e.stop()));
    const { store, events } = await countStore(database.url, saleId);
    const acknowledged = acknowledgedOf([load.warmup, load]);
    const counted = { store, acknowledged };
    const problems = accountingProblems(counted);
    if (problems.length > 0) {
      const twice = await ordersReservedTwice(database.url, saleId);
      if (twice.length > 0) problems.push(`orders reserved more than once: ${JSON.stringify(twice)}`);
      loud(`ROW ${ID} ${label}: THE STORE DISAGREES WITH THE ANSWERS: ${problems.join('; ')}`);
    }
    return { replicas, spread, window, load, writers, store, acknowledged, eventsAppended: events, ...(logTails ? { logTails } : {}), problems };
  } finally {
    await Promise.all(engines.map((e) => e.stop()));
    await redis?.stop();
    await database?.drop();
  }
};

const sideName = (side: Pick<Side, 'replicas' | 'spread' | 'window'>): string =>
  `${side.replicas === 1 ? 'one replica' : `${side.replicas} replicas${side.spread ? ', a core each' : ''}`}${side.window > 1 ? `, window ${side.window}` : ''}`;

/** The mean of a figure over a side's windows. */
const meanOf = (sides: readonly Side[], figure: (side: Side) => number): number => sides.reduce((sum, side) => sum + figure(side), 0) / sides.length;
const rate201 = (side: Side): number => rateOf(side.load, 201);

/** A side's 201s per second, rounded, as the notes print it. */
const reservedPerSecond = (side: Side): string => Math.round(rate201(side)).toLocaleString('en-US');

/** `cores` of CPU over a side's window, in µs per reservation (report.ts's cpuCost), rounded; null when none was made. */
const microsPerReservation = (side: Side, cores: number): number | null => {
  const cost = cpuCost(cores, rate201(side), '201');
  return cost && Math.round(cost.us);
};

const perReservationMicros = (side: Side): number | null => microsPerReservation(side, side.load.cpu.sut);

const sumWriters = (writers: readonly WriterCounts[]): WriterCounts =>
  writers.reduce((a, b) => ({ appends: a.appends + b.appends, commands: a.commands + b.commands, conflicts: a.conflicts + b.conflicts, guests: a.guests + b.guests }), { appends: 0, commands: 0, conflicts: 0, guests: 0 });

const sideText = (side: Side): string => {
  const w = sumWriters(side.writers);
  const micros = perReservationMicros(side);
  const cores = side.load.cpu.sutEach ? `${side.load.cpu.sut} (${side.load.cpu.sutEach.join(' + ')})` : String(side.load.cpu.sut);
  const split = side.load.perTarget ? `; 201s per replica ${side.load.perTarget.map((t) => (t.statuses['201'] ?? 0).toLocaleString('en-US')).join(' / ')}` : '';
  return (
    `${sideName(side)}: ${reservedPerSecond(side)} 201/s, api CPU ${cores} cores = ${micros ?? '?'} µs per reservation, ` +
    `${w.appends.toLocaleString('en-US')} shard appends of ${(w.commands / Math.max(1, w.appends)).toFixed(1)} commands on average, ${w.conflicts.toLocaleString('en-US')} OCC conflicts (re-decided), ${w.guests.toLocaleString('en-US')} reservations as a guest on another replica's shard${split}; ` +
    `PostgreSQL + Redis + anything else ${side.load.cpu.other} cores${groupsText(side)}`
  );
};

/** Each kind of process's CPU per reservation, user and system apart, and how often it was preempted. */
const groupsText = (side: Side): string => {
  const groups = side.load.cpu.groups;
  if (!groups || rate201(side) <= 0) return '';
  const micros = (cores: number): number | null => microsPerReservation(side, cores);
  const each = Object.entries(groups).map(
    ([name, g]: [string, GroupCpu]) => `${name} ${g.cores} (${micros(g.cores)} µs: user ${micros(g.user)}, system ${micros(g.system)}; ${g.preemptionsPerSecond.toLocaleString('en-US')} preemptions/s)`,
  );
  return `; by process, cores (per reservation): ${each.join(', ')}`;
};

const sideDetails = (side: Side): Record<string, unknown> => ({
  replicas: side.replicas,
  spread: side.spread,
  window: side.window,
  ...loadDetails(side.load),
  cpuMicrosPerReservation: perReservationMicros(side),
  ...(side.load.perTarget ? { perReplica: side.load.perTarget.map((t, i) => ({ ...t, writers: side.writers[i] })) } : { writers: side.writers[0] }),
  shardWriters: sumWriters(side.writers),
  drained: side.load.drained,
  accounting: { ...side.acknowledged, store: side.store, stock: PLENTY.totalStock, problems: side.problems },
  eventsAppended: side.eventsAppended,
  ...(side.logTails ? { logTails: side.logTails } : {}),
});

/**
 * Row 10 (issue #22, scale-out): row 8's closed-loop load on the engine over the PostgreSQL event store with a Redis
 * gate, one api replica against two sharing a store and a Redis (each window on a fresh store and Redis of its own:
 * none inherits another's log), in one run; the ratio two / one must not fall below 1, "on two cores". The windows
 * alternate and each side is the mean of its windows (see SPREAD_WINDOWS). The headline puts the two replicas on a
 * core each (core 0 and the next: what adding a replica adds in a deployment, a CPU of its own; on a two-core machine
 * the second core is the load generator's and PostgreSQL's too) against the one replica on core 0. Beside it, never in
 * place of it, the two replicas on the one core (every replica, worker and the Redis on core 0): what a replica costs
 * when it brings no CPU. Where cores cannot be pinned, or there is one, only that side runs and it is the headline.
 */
export const replicasRow = async (given: BenchContext): Promise<RowResult> => {
  // The deployment issue #22 scales out, whatever --worker says for the other rows: api replicas with WORKER=external
  // and a worker process beside each, one of them holding the jobs under the lease (docker-compose.yml's cluster).
  // WORKER=embedded is the one-process mode: there every replica would run every saga, and fold the whole log into an
  // analytics read model of its own, unleased, so adding a replica would add a second copy of that work.
  const ctx: BenchContext = { ...given, worker: 'external' };
  const pg = await probePostgres();
  const skip = (reason: string): RowResult => {
    loud(`ROW ${ID} SKIPPED: ${reason}`);
    return skippedRow(ID, KEY, TITLE, '201/s', TARGET, reason);
  };
  if (typeof pg === 'string') return skip(`PostgreSQL unreachable (${pg})`);
  if (!redisServerOnPath()) return skip('redis-server is not on PATH: the replicas need a Redis of their own');
  // The windows alternate, one replica first and last: A B C A C A with the two on a core each (C) as the headline,
  // A B A without it. The machine's speed drifts over a run and between its cores (a shared VM: the same side measured
  // 1,420 and 2,170 /s on the same code minutes apart, and a memory-bound loop ran at half speed on core 0 while
  // core 1 ran it at full), so each side is the mean of its windows, each measured between two of the other's.
  const canSpread = ctx.placement.taskset && os.cpus().length >= 2;
  /** Every window, in the order measured. */
  const sides: Side[] = [];
  const measure = async (replicas: number, options: { spread?: boolean; window?: number } = {}): Promise<Side> => {
    const side = await measureSide(ctx, pg, replicas, options);
    sides.push(side);
    return side;
  };
  const ones = [await measure(1)];
  const two = await measure(2);
  const spreads: Side[] = [];
  for (let window = 1; window <= (canSpread ? SPREAD_WINDOWS : 1); window++) {
    if (canSpread) spreads.push(await measure(2, { spread: true, window }));
    ones.push(await measure(1, { window: window + 1 }));
  }
  const [one, oneAgain] = ones as [Side, Side];
  const spread = spreads.length > 0;
  const headline = spread ? spreads : [two];
  const value = meanOf(headline, rate201);
  const baselineValue = meanOf(ones, rate201);
  const ratio = baselineValue > 0 ? value / baselineValue : null;
  const oneCoreRatio = baselineValue > 0 ? rate201(two) / baselineValue : null;
  const spreadRatio = spread ? ratio : null;
  const windows = (list: readonly Side[]): string => list.map(reservedPerSecond).join(', ');
  // A figure bought with a wrong store is a miss whatever the ratio.
  const unsound = sides.flatMap((side) => side.problems.map((p) => `${sideName(side)}: STORE DISAGREES WITH THE ANSWERS: ${p}`));
  progress(
    `row ${ID}: one replica ${Math.round(baselineValue).toLocaleString('en-US')} 201/s (windows ${windows(ones)}); two on one core ${reservedPerSecond(two)} 201/s (${oneCoreRatio?.toFixed(2) ?? '—'}×)` +
      (spread ? `; two on a core each ${Math.round(value).toLocaleString('en-US')} 201/s (windows ${windows(spreads)}; ${spreadRatio?.toFixed(2) ?? '—'}×, the headline)` : ''),
  );
  const placement = ctx.placement.taskset
    ? `one replica (and its worker, and the Redis) pinned to core ${ctx.placement.sutCore}${spread ? '; the headline\'s two replicas on a core each, beside it two on that one core' : '; the two replicas on that one core (one core only: the headline)'}`
    : 'nothing pinned';
  const accounting = (side: Side): string =>
    `${sideName(side)}: ${side.store.reservations.toLocaleString('en-US')} reserved in the store ${side.store.reservations === side.acknowledged.reserved ? '=' : '≥'} ${side.acknowledged.reserved.toLocaleString('en-US')} answered 201 ` +
    `(of ${side.acknowledged.sent.toLocaleString('en-US')} sent over warm-up and window, drained at the end of each; ${side.acknowledged.uncertain} answered otherwise or never), ${side.store.units.toLocaleString('en-US')} units ≤ stock${side.problems.length === 0 ? ', no order or buyer twice' : ' (see above)'}`;
  return {
    id: ID,
    key: KEY,
    title: TITLE,
    metric: '201/s',
    value,
    baseline: { label: 'one replica', value: baselineValue },
    ratio,
    target: TARGET,
    pass: unsound.length > 0 ? false : judge(TARGET, value, ratio),
    cpu: cpuCost(meanOf(headline, (side) => side.load.cpu.sut), value, '201 (replicas summed)'),
    notes: [
      ...unsound,
      `row 8's load and requests (a new buyer per request, stock 10^9 over ${PLENTY.shards} shards, ${ctx.mode.connections} connections, split evenly over the replicas); EVENTSTORE_URL on a fresh database and REDIS_URL on a fresh redis-server per side, dropped after`,
      `${placement}; WORKER=external whatever --worker says (the cluster's topology): a worker beside each replica, pinned to its core, one of them holding the jobs under the Redis lease; PostgreSQL ${pg.version} not pinned`,
      `windows in turn: ${sides.map(sideName).join(' → ')}; each side is the mean of its windows`,
      `baseline: the one replica's ${ones.length} windows, first, between and last (${windows(ones)} 201/s), averaged`,
      `the replicas split each sale's stocked shards under leases in the Redis (SHARD_LEASE_MS); a write to a shard another replica owns (the tail, a handover) is decided under the store's optimistic concurrency`,
      ...(spread
        ? [
            `headline: two replicas on a core each (core ${ctx.placement.sutCore} and the next, the second shared with the load generator and PostgreSQL on a two-core machine), ${spreads.length} windows (${windows(spreads)} 201/s), sold ${spreadRatio?.toFixed(2) ?? '—'}× what one replica sold`,
            `beside it (not in place of it): two replicas on one core, with their workers and the Redis, sold ${oneCoreRatio?.toFixed(2) ?? '—'}× (what a replica costs when it brings no CPU)`,
          ]
        : []),
      ...sides.map(sideText),
      ...sides.map(accounting),
      ...sides.flatMap((side) => unexpected(sideName(side), side.load, 201)),
      ...sides.flatMap((side) => Object.entries(side.load.samples ?? {}).map(([status, body]) => `${sideName(side)}: the first ${status} said ${body}`)),
      ...sides.flatMap((side) => loadNotes(sideName(side), side.load, true)),
    ],
    details: {
      worker: ctx.worker,
      headline: spread ? 'twoOnACoreEach' : 'two',
      order: sides.map(sideName),
      one: sideDetails(one),
      oneAgain: sideDetails(oneAgain),
      // Every window of a side, in the order measured (the first two of the one replica's are also above).
      oneWindows: ones.map(sideDetails),
      two: { ...sideDetails(two), ratio: oneCoreRatio },
      ...(spread ? { twoOnACoreEach: { ratio: spreadRatio, responsesPerSecond201: value, windows: spreads.map(sideDetails) } } : {}),
      postgres: pg,
    },
  };
};
