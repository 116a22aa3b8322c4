import fs from 'node:fs';
import path from 'node:path';
import { BenchContext } from '../support/context';
import { waitForQuiet } from '../support/cpu';
import { loud, progress } from '../support/log';
import { NodeProcess } from '../support/processes';
import { RowResult, skippedRow, Target } from '../support/report';

/** The brief gives this row no target: it is reported, not judged. */
const TARGET: Target = { kind: 'ratio-at-least', threshold: 0, text: 'none set (informational)' };
const TITLE = 'Redis gate: admit decisions/s (Lua, one round trip) vs the in-process twin';

const skip = (reason: string): RowResult => {
  loud(`ROW 4 SKIPPED: ${reason}`);
  return skippedRow(4, 'redis-gate', TITLE, 'decisions/s', TARGET, reason);
};

/** Row 4: the eligibility gate through Redis, when libs/gate exports a Redis adapter; skipped (loudly) otherwise. */
export const gateRow = async (ctx: BenchContext): Promise<RowResult> => {
  const index = path.join(ctx.dist, 'libs/gate/src/index.js');
  const source = fs.existsSync(index) ? fs.readFileSync(index, 'utf8') : '';
  if (!/\bRedisGate\b/.test(source)) return skip('not built yet: libs/gate exports no Redis adapter');
  await waitForQuiet(progress);
  progress(`row 4: gate driver, ${ctx.mode.timedSeconds} s per adapter`);
  const run = await new NodeProcess({
    label: 'gate driver',
    script: path.join(ctx.dist, 'bench/gate-driver.js'),
    env: { REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', WARMUP_SECONDS: String(ctx.mode.warmupSeconds), SECONDS: String(ctx.mode.timedSeconds) },
    placement: ctx.placement,
  }).run();
  if (run.code !== 0) return skip(`the Redis gate could not be driven: ${run.stderr.trim().split('\n')[0] ?? `exit ${String(run.code)}`}`);
  const out = JSON.parse(run.stdout) as {
    redisVersion: string;
    concurrency: number;
    redis: { perSecond: number; verdicts: Record<string, number> };
    inProcess: { perSecond: number; verdicts: Record<string, number> };
  };
  progress(`row 4: Redis ${Math.round(out.redis.perSecond).toLocaleString('en-US')}/s, in-process ${Math.round(out.inProcess.perSecond).toLocaleString('en-US')}/s`);
  const ratio = out.inProcess.perSecond > 0 ? out.redis.perSecond / out.inProcess.perSecond : null;
  return {
    id: 4,
    key: 'redis-gate',
    title: TITLE,
    metric: 'decisions/s',
    value: out.redis.perSecond,
    baseline: { label: 'in-process gate', value: out.inProcess.perSecond },
    ratio,
    target: TARGET,
    pass: null,
    notes: [
      `RedisGate.admit from one process on the SUT core, ${out.concurrency} in flight, a new buyer per decision, plenty of stock; Redis ${out.redisVersion} (local, not pinned)`,
      'no target was given for this row: reported, not judged',
    ],
    details: out,
  };
};
