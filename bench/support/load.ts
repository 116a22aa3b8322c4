import { Pool } from 'undici';
import { RequestFactory } from './buyers';
import { cpuWindow, CpuShare, ProcessGroup, waitForQuiet } from './cpu';
import { Drained, rawClosedLoop } from './http-load';
import { progress } from './log';

export interface ClosedLoopOptions {
  readonly label: string;
  /** The server; or its replicas, which then share the connections evenly (as a balancer spreading connections would). */
  readonly baseUrl: string | readonly string[];
  readonly connections: number;
  readonly seconds: number;
  readonly next: RequestFactory;
  /** Stop after this many requests (the scale row); the window still ends at `seconds`. */
  readonly amount?: number;
  /** Measured for CPU shares (summed when several: the replicas). */
  readonly sutPid?: number | readonly number[];
  /** Processes whose CPU the window also reports apart, by name (CpuShare.groups). */
  readonly processGroups?: Readonly<Record<string, ProcessGroup>>;
  /** Called every `tickSeconds` with the responses so far. */
  readonly onTick?: (responses: number, elapsedS: number) => void;
  readonly tickSeconds?: number;
  /** Wait this long at the end for the answers in flight, and count them apart (`drained`): see RawLoadOptions. */
  readonly drainMs?: number;
}

export interface LoadResult {
  readonly seconds: number;
  readonly responses: number;
  /** Responses per second, all statuses. */
  readonly rate: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly timeouts: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number };
  readonly cpu: CpuShare;
  /** The first body of each status other than 2xx (see RawLoadResult). */
  readonly samples?: Record<string, string>;
  /** Set with `drainMs`: every request sent, the answers after the window, and those never answered. */
  readonly drained?: Drained;
  /** Per replica, in the order of `baseUrl`, when there are several. */
  readonly perTarget?: ReadonlyArray<{ readonly baseUrl: string; readonly connections: number; readonly statuses: Record<string, number> }>;
}

/** Status counts of several windows (or targets) added up. */
export const sumStatuses = (counts: ReadonlyArray<Record<string, number> | undefined>): Record<string, number> => {
  const total: Record<string, number> = {};
  for (const c of counts) for (const [status, n] of Object.entries(c ?? {})) total[status] = (total[status] ?? 0) + n;
  return total;
};

/** Responses per second that had the given status. */
export const rateOf = (r: LoadResult, status: number): number => (r.statuses[String(status)] ?? 0) / r.seconds;

/**
 * Closed loop (each connection sends its next request when the previous one is answered) on the load generator's
 * core: the peak a server sustains with `connections` requests in flight.
 */
export const closedLoop = async (o: ClosedLoopOptions): Promise<LoadResult> => {
  const targets = typeof o.baseUrl === 'string' ? [o.baseUrl] : o.baseUrl;
  if (targets.length > 1 && o.amount !== undefined) throw new Error(`${o.label}: a request budget (amount) is for one server`);
  if (targets.length > o.connections) throw new Error(`${o.label}: ${targets.length} servers need at least as many connections`);
  const endCpu = cpuWindow(o.sutPid, o.processGroups);
  const started = performance.now();
  let responses = 0;
  const ticker = setInterval(() => o.onTick?.(responses, (performance.now() - started) / 1000), (o.tickSeconds ?? 5) * 1000);
  try {
    const shares = targets.map((_, i) => Math.floor(o.connections / targets.length) + (i < o.connections % targets.length ? 1 : 0));
    const runs = await Promise.all(
      targets.map((baseUrl, i) => {
        const url = new URL(baseUrl);
        return rawClosedLoop({
          host: url.hostname,
          port: Number(url.port),
          connections: shares[i] ?? 0,
          seconds: o.seconds,
          next: o.next,
          ...(o.amount === undefined ? {} : { amount: o.amount }),
          ...(o.drainMs === undefined ? {} : { drainMs: o.drainMs }),
          onResponse: () => responses++,
        });
      }),
    );
    const cpu = endCpu();
    const latencies = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
    runs.reduce((at, r) => (latencies.set(r.latencies, at), at + r.latencies.length), 0);
    const seconds = Math.max(...runs.map((r) => r.seconds));
    const answered = runs.reduce((n, r) => n + r.responses, 0);
    const drained: Drained | undefined =
      o.drainMs === undefined
        ? undefined
        : {
            sent: runs.reduce((n, r) => n + (r.drained?.sent ?? 0), 0),
            statuses: sumStatuses(runs.map((r) => r.drained?.statuses)),
            unanswered: runs.reduce((n, r) => n + (r.drained?.unanswered ?? 0), 0),
          };
    return {
      seconds,
      responses: answered,
      rate: answered / seconds,
      statuses: sumStatuses(runs.map((r) => r.statuses)),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      timeouts: 0,
      latencyMs: latencySummary(latencies.sort()),
      cpu,
      samples: Object.assign({}, ...runs.map((r) => r.samples).reverse()) as Record<string, string>,
      ...(drained ? { drained } : {}),
      ...(targets.length > 1 ? { perTarget: targets.map((baseUrl, i) => ({ baseUrl, connections: shares[i] ?? 0, statuses: runs[i]?.statuses ?? {} })) } : {}),
    };
  } finally {
    clearInterval(ticker);
  }
};

/**
 * A warm-up then a timed window on the same server; only the timed window is reported as the figure (the warm-up's
 * result rides along for rows that account for every request). `beforeTimed` runs between the two (a metrics scrape).
 */
export const warmThenMeasure = async (
  o: ClosedLoopOptions & { warmupSeconds: number; beforeTimed?: () => Promise<void> },
): Promise<LoadResult & { readonly warmup?: LoadResult }> => {
  await waitForQuiet(progress);
  let warmup: LoadResult | undefined;
  if (o.warmupSeconds > 0) {
    progress(`${o.label}: warm-up ${o.warmupSeconds} s`);
    warmup = await closedLoop({ ...o, seconds: o.warmupSeconds });
  }
  await o.beforeTimed?.();
  progress(`${o.label}: timed ${o.seconds} s, ${o.connections} connections`);
  const result = await closedLoop(o);
  progress(`${o.label}: ${Math.round(result.rate).toLocaleString('en-US')} responses/s ${JSON.stringify(result.statuses)}`);
  return warmup ? { ...result, warmup } : result;
};

export interface OpenLoopOptions {
  readonly label: string;
  readonly baseUrl: string;
  /** Requests per second, sent on schedule whether or not earlier ones were answered. */
  readonly rate: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly next: RequestFactory;
  readonly sutPid?: number;
  /** Upper bound of sockets; requests beyond it queue in the client and their wait counts as latency. */
  readonly connections?: number;
}

const percentile = (sorted: Float64Array, p: number): number => {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
};

/**
 * Open loop at a constant rate through undici: request i is due at start + i/rate, and its latency is measured from
 * that due time, not from when it left, so a stalled server cannot hide its stall by slowing the client down
 * (no coordinated omission). Only requests due inside the timed window are reported.
 */
export const openLoop = async (o: OpenLoopOptions): Promise<LoadResult & { dueRate: number; sent: number }> => {
  await waitForQuiet(progress);
  const pool = new Pool(o.baseUrl, { connections: o.connections ?? 512, pipelining: 1 });
  const total = Math.round(o.rate * (o.warmupSeconds + o.seconds));
  const timedFrom = Math.round(o.rate * o.warmupSeconds);
  const latencies = new Float64Array(total - timedFrom);
  const statuses: Record<string, number> = {};
  let measured = 0;
  let errors = 0;
  let sent = 0;
  let settled = 0;
  let endCpu: (() => CpuShare) | undefined;
  const start = performance.now() + 20;
  const dueAt = (i: number): number => start + (i * 1000) / o.rate;
  progress(`${o.label}: open loop at ${Math.round(o.rate).toLocaleString('en-US')} req/s, warm-up ${o.warmupSeconds} s, timed ${o.seconds} s`);

  const send = (i: number): void => {
    const due = dueAt(i);
    const r = o.next();
    const done = (status: string): void => {
      settled++;
      if (i >= timedFrom) {
        latencies[measured++] = performance.now() - due;
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    };
    pool
      .request({ method: r.method, path: r.path, headers: r.headers, ...(r.body === undefined ? {} : { body: r.body }) })
      .then(async (res) => {
        await res.body.dump();
        done(String(res.statusCode));
      })
      .catch(() => {
        errors++;
        done('error');
      });
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && dueAt(sent) <= now) {
        if (sent === timedFrom) endCpu = cpuWindow(o.sutPid);
        send(sent++);
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    setTimeout(tick, 20);
  });
  const cpu = endCpu?.() ?? { sut: 0, loadGenerator: 0, other: 0 };
  const deadline = performance.now() + 30_000;
  while (settled < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await pool.destroy();
  const sorted = latencies.slice(0, measured).sort();
  const seconds = o.seconds;
  const result = {
    seconds,
    responses: measured,
    rate: measured / seconds,
    dueRate: o.rate,
    sent: total - timedFrom,
    statuses,
    errors,
    timeouts: total - settled,
    latencyMs: latencySummary(sorted),
    cpu,
  };
  progress(`${o.label}: p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, p99.9 ${result.latencyMs.p999} ms ${JSON.stringify(statuses)}`);
  return result;
};

const round2 = (n: number): number => Math.round(n * 100) / 100;

const latencySummary = (sorted: Float64Array): LoadResult['latencyMs'] => ({
  p50: round2(percentile(sorted, 0.5)),
  p99: round2(percentile(sorted, 0.99)),
  p999: round2(percentile(sorted, 0.999)),
  max: round2(sorted[sorted.length - 1] ?? 0),
});
