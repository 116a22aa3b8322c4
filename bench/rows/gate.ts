import fs from 'node:fs';
import path from 'node:path';
import { BenchContext } from '../support/context';
import { waitForQuiet } from '../support/cpu';
import { loud, progress } from '../support/log';
import { NodeProcess, Placement } from '../support/processes';
import { redisServerOnPath, startPrivateRedis } from '../support/redis';
import { cpuCost, judge, RowResult, skippedRow, Target } from '../support/report';

/** Issue #23: the admits of one event-loop turn go to Redis as one script call, so the gate outruns one-key calls. */
const TARGET: Target = { kind: 'ratio-at-least', threshold: 3, text: '≥ 3×' };
const TITLE = 'Redis gate: RedisGate.admit decisions/s vs raw EVALSHA of a one-key decrement';

const skip = (reason: string): RowResult => {
  loud(`ROW 4 SKIPPED: ${reason}`);
  return skippedRow(4, 'redis-gate', TITLE, 'decisions/s', TARGET, reason);
};

interface Side {
  readonly perSecond: number;
  readonly decisions: number;
  readonly verdicts: Record<string, number>;
  readonly cpuCores: { readonly driver: number; readonly redis: number | null; readonly other: number | null };
  readonly windows: readonly number[];
  readonly elsewhere: ReadonlyArray<number | null>;
}

interface DriverOutput {
  readonly redisVersion: string;
  readonly concurrency: number;
  readonly rawScript: string;
  readonly windows: { readonly perSide: number; readonly seconds: number; readonly order: readonly string[]; readonly quietBudgetSeconds: number;
    readonly quietWaitSeconds: number;
    readonly discardedPairs: ReadonlyArray<{ readonly round: number; readonly ratio: number; readonly elsewhere: ReadonlyArray<number | null> }>;
  };
  readonly gate: Side;
  readonly rawEvalsha: Side;
  readonly pairRatios: readonly number[];
  readonly inProcess: Side;
}

const rate = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Cores used during a side's windows, and what one decision cost in CPU on each side of the socket. */
const cpuText = (s: Side): string => {
  const perDecision = (cores: number | null): string => (cores === null || s.perSecond <= 0 ? '?' : ((cores / s.perSecond) * 1e6).toFixed(1));
  return `driver ${s.cpuCores.driver} cores (${perDecision(s.cpuCores.driver)} µs/decision), Redis ${s.cpuCores.redis ?? '?'} cores (${perDecision(s.cpuCores.redis)} µs/decision), elsewhere ${s.cpuCores.other ?? '?'} cores`;
};

/** The Redis the row drives: a private redis-server pinned like a server, or the one BENCH_REDIS_URL names. */
interface BenchRedis {
  readonly url: string;
  /** As printed in the notes. */
  readonly placement: string;
  stop(): Promise<void>;
}

/**
 * Without BENCH_REDIS_URL the row starts its own redis-server (no persistence, default settings) on a free port,
 * pinned to the SUT core like every server of the benchmark, and the driver runs on the load core: Redis and its
 * client then never share a core (a shared, unpinned Redis tends to be woken onto its client's core). Falls back to
 * the local Redis on 6379, unpinned, when redis-server is not on PATH.
 */
const openRedis = async (placement: Placement): Promise<BenchRedis> => {
  const given = process.env.BENCH_REDIS_URL;
  if (given) return { url: given, placement: `BENCH_REDIS_URL (not pinned by the benchmark)`, stop: async () => undefined };
  if (!redisServerOnPath()) {
    return { url: 'redis://127.0.0.1:6379', placement: 'the local Redis on 6379 (redis-server not on PATH to start a private one; not pinned)', stop: async () => undefined };
  }
  const redis = await startPrivateRedis(placement);
  return { url: redis.url, placement: `a private redis-server (no persistence)${placement.taskset ? ` pinned to core ${placement.sutCore}` : ''}`, stop: redis.stop };
};

/** Row 4: the eligibility gate through Redis, when libs/gate exports a Redis adapter; skipped (loudly) otherwise. */
export const gateRow = async (ctx: BenchContext): Promise<RowResult> => {
  const index = path.join(ctx.dist, 'libs/gate/src/index.js');
  const source = fs.existsSync(index) ? fs.readFileSync(index, 'utf8') : '';
  if (!/\bRedisGate\b/.test(source)) return skip('not built yet: libs/gate exports no Redis adapter');
  await waitForQuiet(progress);
  let redis: BenchRedis;
  try {
    redis = await openRedis(ctx.placement);
  } catch (error) {
    return skip(`no Redis to drive: ${error instanceof Error ? error.message : String(error)}`);
  }
  // The driver is the client side (the gate adapter and the raw EVALSHA caller): on the load core, Redis on the SUT core.
  const driverPlacement: Placement = { ...ctx.placement, sutCore: ctx.placement.loadCore };
  progress(`row 4: gate driver, ${ctx.mode.warmupSeconds} s warm-up each, then ${ctx.mode.timedSeconds} s each of raw EVALSHA and RedisGate.admit in alternating windows`);
  let run: Awaited<ReturnType<NodeProcess['run']>>;
  try {
    run = await new NodeProcess({
      label: 'gate driver',
      script: path.join(ctx.dist, 'bench/gate-driver.js'),
      env: {
        REDIS_URL: redis.url,
        WARMUP_SECONDS: String(ctx.mode.warmupSeconds),
        SECONDS: String(ctx.mode.timedSeconds),
        QUIET_WAIT_SECONDS: String(ctx.mode.quietWaitSeconds),
      },
      placement: driverPlacement,
    }).run();
  } finally {
    await redis.stop();
  }
  if (run.code !== 0) return skip(`the Redis gate could not be driven: ${run.stderr.trim().split('\n')[0] ?? `exit ${String(run.code)}`}`);
  const out = JSON.parse(run.stdout) as DriverOutput;
  const ratio = out.rawEvalsha.perSecond > 0 ? out.gate.perSecond / out.rawEvalsha.perSecond : null;
  progress(
    `row 4: RedisGate.admit ${rate(out.gate.perSecond)}/s, raw EVALSHA ${rate(out.rawEvalsha.perSecond)}/s (${ratio === null ? '—' : ratio.toFixed(2)}×); in-process ${rate(out.inProcess.perSecond)}/s`,
  );
  const pairs = out.pairRatios.filter((r) => Number.isFinite(r));
  const busy = Math.max(out.gate.cpuCores.other ?? 0, out.rawEvalsha.cpuCores.other ?? 0);
  // A pair is noisy when either of its windows had more than 0.25 cores busy elsewhere.
  const noisyPairs = out.pairRatios.filter((_, i) => Math.max(out.rawEvalsha.elsewhere[i] ?? 0, out.gate.elsewhere[i] ?? 0) > 0.25).length;
  const saturated = (cores: number | null): boolean => (cores ?? 0) > 0.9;
  const placement = ctx.placement.taskset ? `pinned to core ${driverPlacement.sutCore}` : 'not pinned';
  return {
    id: 4,
    key: 'redis-gate',
    title: TITLE,
    metric: 'decisions/s',
    value: out.gate.perSecond,
    baseline: { label: 'raw EVALSHA one-key decrement', value: out.rawEvalsha.perSecond },
    ratio,
    target: TARGET,
    pass: judge(TARGET, out.gate.perSecond, ratio),
    // The server here is Redis: its CPU per decision (the driver's, the client side, is in the notes).
    cpu: out.gate.cpuCores.redis === null ? null : cpuCost(out.gate.cpuCores.redis, out.gate.perSecond, 'decision (Redis)'),
    notes: [
      `one driver process (${placement}), ${out.concurrency} in flight on each side, ioredis with the gate's client options; Redis ${out.redisVersion}: ${redis.placement}`,
      `gate: RedisGate.admit, a new buyer and reservation per decision, perUserLimit 1, stock taken, 8 shards of 10^8 (every check, then three writes)`,
      `baseline: EVALSHA of \`${out.rawScript}\` on one key holding 10^15, from its own connection`,
      `same warm-up for both, then ${out.windows.perSide} windows of ${out.windows.seconds.toFixed(2)} s per side in ABBA order (${
        out.windows.quietBudgetSeconds > 0
          ? `each pair after a wait for a quiet machine: ${out.windows.quietWaitSeconds} s waited of at most ${out.windows.quietBudgetSeconds} s`
          : 'no wait for a quiet machine in this mode'
      }); per-pair ratios ${pairs.map((r) => r.toFixed(2)).join(', ')}`,
      ...(out.windows.discardedPairs.length > 0
        ? [
            `${out.windows.discardedPairs.length} pairs measured again because other work used > 0.25 cores during them (set-aside ratios ${out.windows.discardedPairs.map((d) => d.ratio.toFixed(2)).join(', ')})`,
          ]
        : []),
      `CPU during the windows: gate ${cpuText(out.gate)}; raw ${cpuText(out.rawEvalsha)}`,
      `in-process twin (informational, not the baseline): ${rate(out.inProcess.perSecond)} decisions/s in the driver, on its core`,
      ...(busy > 0.25 || noisyPairs > 0 ? [`up to ${busy} cores (averaged per side) were busy outside the driver and Redis; ${noisyPairs} of ${out.pairRatios.length} pairs noisy (> 0.25 cores elsewhere)`] : []),
      ...[out.rawEvalsha, out.gate].flatMap((side, i) => {
        const name = i === 0 ? 'raw EVALSHA' : 'gate';
        return [
          ...(saturated(side.cpuCores.driver) ? [`${name}: the driver used ${side.cpuCores.driver} of its core: bound by the client side`] : []),
          ...(saturated(side.cpuCores.redis) ? [`${name}: Redis used ${side.cpuCores.redis} of its core: bound by Redis`] : []),
        ];
      }),
    ],
    details: { ...out },
  };
};
