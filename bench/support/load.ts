import { Pool } from 'undici';
import { RequestFactory } from './buyers';
import { cpuWindow, CpuShare, waitForQuiet } from './cpu';
import { rawClosedLoop } from './http-load';
import { progress } from './log';

export interface ClosedLoopOptions {
  readonly label: string;
  readonly baseUrl: string;
  readonly connections: number;
  readonly seconds: number;
  readonly next: RequestFactory;
  /** Stop after this many requests (the scale row); the window still ends at `seconds`. */
  readonly amount?: number;
  /** Measured for CPU shares. */
  readonly sutPid?: number;
  /** Called every `tickSeconds` with the responses so far. */
  readonly onTick?: (responses: number, elapsedS: number) => void;
  readonly tickSeconds?: number;
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
}

/** Responses per second that had the given status. */
export const rateOf = (r: LoadResult, status: number): number => (r.statuses[String(status)] ?? 0) / r.seconds;

/**
 * Closed loop (each connection sends its next request when the previous one is answered) on the load generator's
 * core: the peak a server sustains with `connections` requests in flight.
 */
export const closedLoop = async (o: ClosedLoopOptions): Promise<LoadResult> => {
  const url = new URL(o.baseUrl);
  const endCpu = cpuWindow(o.sutPid);
  const started = performance.now();
  let responses = 0;
  const ticker = setInterval(() => o.onTick?.(responses, (performance.now() - started) / 1000), (o.tickSeconds ?? 5) * 1000);
  try {
    const r = await rawClosedLoop({
      host: url.hostname,
      port: Number(url.port),
      connections: o.connections,
      seconds: o.seconds,
      next: o.next,
      ...(o.amount === undefined ? {} : { amount: o.amount }),
      onResponse: () => responses++,
    });
    const sorted = r.latencies.slice().sort();
    return {
      seconds: r.seconds,
      responses: r.responses,
      rate: r.responses / r.seconds,
      statuses: r.statuses,
      errors: r.errors,
      timeouts: 0,
      latencyMs: latencySummary(sorted),
      cpu: endCpu(),
    };
  } finally {
    clearInterval(ticker);
  }
};

/** A warm-up then a timed window on the same server; only the timed window is reported. */
export const warmThenMeasure = async (o: ClosedLoopOptions & { warmupSeconds: number }): Promise<LoadResult> => {
  await waitForQuiet(progress);
  if (o.warmupSeconds > 0) {
    progress(`${o.label}: warm-up ${o.warmupSeconds} s`);
    await closedLoop({ ...o, seconds: o.warmupSeconds });
  }
  progress(`${o.label}: timed ${o.seconds} s, ${o.connections} connections`);
  const result = await closedLoop(o);
  progress(`${o.label}: ${Math.round(result.rate).toLocaleString('en-US')} responses/s ${JSON.stringify(result.statuses)}`);
  return result;
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
