import fs from 'node:fs';
import path from 'node:path';

/**
 * Row 4's client side: one Node process (the row pins it to the load core, and its private Redis to the SUT core)
 * with CONCURRENCY decisions in flight:
 *
 * - gate: `RedisGate.admit`, each decision for a new buyer and reservation on a sale with plenty of stock and
 *   stock taken (the script's longest path: every check, then three writes);
 * - baseline: raw EVALSHA of RAW_DECREMENT_LUA (a one-key conditional decrement, the least a Redis gate can do)
 *   on a key with plenty of stock, from an ioredis client with the gate's own client options, in the same process.
 *
 * Both get the same warm-up, then alternate in short windows, baseline and gate in ABBA order (B G, G B, B G, …),
 * so that drift on a shared machine (other work starting or stopping, Redis's hashes growing) favours neither.
 * Before each pair the driver waits for the machine to be quiet, and a pair during which other work used more than
 * 0.25 cores is measured again (both sides; at most 3 times), all within QUIET_WAIT_SECONDS for the whole run; the
 * pairs set aside are reported with their ratios.
 * The in-process twin runs last, for information only. The gate library is loaded at run time, not imported, so a
 * change of its API fails this row only and never the build. Prints one JSON line.
 */
interface Gate {
  load(snapshot: unknown): Promise<void>;
  admit(request: unknown): Promise<{ kind: string }>;
  close(): Promise<void>;
}

interface RedisClient {
  connect(): Promise<void>;
  script(sub: 'LOAD', lua: string): Promise<string>;
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  unlink(...keys: string[]): Promise<number>;
  info(section: string): Promise<string>;
  quit(): Promise<unknown>;
}

/** The baseline: decrement KEYS[1] by ARGV[1] when it holds at least that much, else -1. */
const RAW_DECREMENT_LUA =
  "local n = tonumber(redis.call('GET', KEYS[1])) if n and n >= tonumber(ARGV[1]) then return redis.call('DECRBY', KEYS[1], ARGV[1]) end return -1";

/** Where the CPU went during a window, in core-seconds. */
interface CpuSeconds {
  driver: number;
  redis: number | null;
  machine: number;
}

interface Tally {
  decisions: number;
  seconds: number;
  verdicts: Record<string, number>;
  cpu: CpuSeconds;
  windows: number[];
  /** Cores busy outside this process and Redis, per window (null when Redis's CPU could not be read). */
  elsewhere: Array<number | null>;
}

interface Measured {
  readonly decisions: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly verdicts: Record<string, number>;
  /** Average cores used during this side's windows: the driver (this process), Redis, and everything else. */
  readonly cpuCores: { readonly driver: number; readonly redis: number | null; readonly other: number | null };
  /** decisions/s of each timed window, in run order. */
  readonly windows: readonly number[];
  /** Cores busy elsewhere on the machine during each of those windows. */
  readonly elsewhere: ReadonlyArray<number | null>;
}

const SHARDS = 8;
const PLENTY = 100_000_000;

const machineBusySeconds = (): number => {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
};

/** Redis's own CPU seconds (INFO cpu: user + sys of the server process), or null when it cannot be read. */
const redisCpuSeconds = async (admin: RedisClient): Promise<number | null> => {
  const info = await admin.info('cpu');
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info);
    return m ? Number(m[1]) : null;
  };
  const user = field('used_cpu_user');
  const sys = field('used_cpu_sys');
  return user === null || sys === null ? null : user + sys;
};

type Decide = (i: number) => Promise<string>;

interface Driven {
  readonly decisions: number;
  readonly seconds: number;
  readonly verdicts: Record<string, number>;
}

/** CONCURRENCY workers, each starting its next decision when the last one answers, until `seconds` are over. */
const drive = async (decide: Decide, concurrency: number, seconds: number, next: { i: number }): Promise<Driven> => {
  let decisions = 0;
  const verdicts: Record<string, number> = {};
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const verdict = await decide(next.i++);
      verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
      decisions++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { decisions, seconds: (performance.now() - started) / 1000, verdicts };
};

/** One timed window: its decisions, and the CPU seconds it cost the driver, Redis and the machine. */
interface Window extends Driven {
  readonly cpu: CpuSeconds;
  /** Cores busy outside this process and Redis (null when Redis's CPU could not be read). */
  readonly elsewhere: number | null;
}

const window = async (admin: RedisClient, decide: Decide, concurrency: number, seconds: number, next: { i: number }): Promise<Window> => {
  const driver0 = process.cpuUsage();
  const machine0 = machineBusySeconds();
  const redis0 = await redisCpuSeconds(admin);
  const driven = await drive(decide, concurrency, seconds, next);
  const redis1 = await redisCpuSeconds(admin);
  const usage = process.cpuUsage(driver0);
  const driver = (usage.user + usage.system) / 1e6;
  const machine = machineBusySeconds() - machine0;
  const redis = redis0 === null || redis1 === null ? null : redis1 - redis0;
  const elsewhere = redis === null ? null : Math.round((Math.max(0, machine - driver - redis) / driven.seconds) * 100) / 100;
  return { ...driven, cpu: { driver, redis, machine }, elsewhere };
};

const add = (tally: Tally, w: Window): void => {
  tally.decisions += w.decisions;
  tally.seconds += w.seconds;
  tally.windows.push(Math.round(w.decisions / w.seconds));
  tally.elsewhere.push(w.elsewhere);
  for (const [k, n] of Object.entries(w.verdicts)) tally.verdicts[k] = (tally.verdicts[k] ?? 0) + n;
  tally.cpu.driver += w.cpu.driver;
  tally.cpu.machine += w.cpu.machine;
  tally.cpu.redis = w.cpu.redis === null || tally.cpu.redis === null ? null : tally.cpu.redis + w.cpu.redis;
};

const QUIET_CORES = 0.3;
/** A pair whose either window had more than this many cores busy elsewhere is run again while the budget lasts. */
const NOISY_CORES = 0.25;
const MAX_RETRIES_PER_PAIR = 3;

/**
 * Like the harness before each of its windows: waits until the machine outside this process and Redis has used
 * less than 0.3 cores for a second (two half-second samples), drawing on a budget shared by the whole run.
 * Returns the seconds waited.
 */
const waitForQuiet = async (admin: RedisClient, budget: { seconds: number }): Promise<number> => {
  const started = performance.now();
  let calm = 0;
  while (budget.seconds > 0 && calm < 2) {
    const driver0 = process.cpuUsage();
    const machine0 = machineBusySeconds();
    const redis0 = (await redisCpuSeconds(admin)) ?? 0;
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const elapsed = (performance.now() - t0) / 1000;
    const usage = process.cpuUsage(driver0);
    const other = machineBusySeconds() - machine0 - (usage.user + usage.system) / 1e6 - (((await redisCpuSeconds(admin)) ?? 0) - redis0);
    calm = other / elapsed < QUIET_CORES ? calm + 1 : 0;
    budget.seconds -= elapsed;
  }
  return (performance.now() - started) / 1000;
};

const emptyTally = (): Tally => ({ decisions: 0, seconds: 0, verdicts: {}, cpu: { driver: 0, redis: 0, machine: 0 }, windows: [], elsewhere: [] });

const result = (t: Tally): Measured => {
  const cores = (s: number): number => Math.round((s / t.seconds) * 100) / 100;
  return {
    decisions: t.decisions,
    seconds: t.seconds,
    perSecond: t.decisions / t.seconds,
    verdicts: t.verdicts,
    cpuCores: {
      driver: cores(t.cpu.driver),
      redis: t.cpu.redis === null ? null : cores(t.cpu.redis),
      other: t.cpu.redis === null ? null : cores(Math.max(0, t.cpu.machine - t.cpu.driver - t.cpu.redis)),
    },
    windows: t.windows,
    elsewhere: t.elsewhere,
  };
};

const inProcessRate = async (lib: Record<string, any>, saleId: string, concurrency: number, warmup: number, seconds: number): Promise<Measured> => {
  const gate = new lib.InProcessGate() as Gate;
  const now = Date.now();
  await gate.load({ saleId, startsAt: now - 1000, endsAt: now + 3600_000, perUserLimit: 1, available: Array.from({ length: SHARDS }, () => PLENTY), holds: [] });
  const decide: Decide = async (i) =>
    (await gate.admit({ saleId, userId: `g${i}`, reservationId: `r${i}`, quantity: 1, now: Date.now(), startShard: i % SHARDS, takeStock: true })).kind;
  const next = { i: 0 };
  await drive(decide, concurrency, warmup, next);
  const tally = emptyTally();
  const driver0 = process.cpuUsage();
  const driven = await drive(decide, concurrency, seconds, next);
  const usage = process.cpuUsage(driver0);
  add(tally, { ...driven, cpu: { driver: (usage.user + usage.system) / 1e6, redis: null, machine: 0 }, elsewhere: null });
  await gate.close();
  return result(tally);
};

const main = async (): Promise<void> => {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const concurrency = Number(process.env.CONCURRENCY ?? 256);
  const warmup = Number(process.env.WARMUP_SECONDS ?? 1);
  const seconds = Number(process.env.SECONDS ?? 3);
  const quietBudgetSeconds = Number(process.env.QUIET_WAIT_SECONDS ?? 0);
  const quietBudget = { seconds: quietBudgetSeconds };
  let quietWaited = 0;
  // An even number of windows per side (ABBA), about a second each.
  const rounds = Math.max(2, 2 * Math.ceil(seconds / 2));
  const windowSeconds = seconds / rounds;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const lib = require(path.join(__dirname, '../libs/gate/src/index.js')) as Record<string, any>;
  const Redis = require('ioredis');
  /* eslint-enable @typescript-eslint/no-require-imports */
  // The gate's own ioredis options when it publishes them (the same client setup for both sides).
  const clientOptions = (lib.RedisGate.CLIENT_OPTIONS as Record<string, unknown> | undefined) ?? { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 };
  const saleId = `bench-gate-${process.pid}-${Date.now()}`;
  const gateKeys = ['meta', 'available', 'users', 'holds'].map((k) => `gate:{${saleId}}:${k}`);
  const stockKey = `bench-raw:{${saleId}}:stock`;

  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 }) as RedisClient;
  await admin.connect();
  const raw = new Redis(url, { ...clientOptions, lazyConnect: true }) as RedisClient;
  await raw.connect();
  const redisGate = (await lib.RedisGate.connect(url)) as Gate;
  const gateTally = emptyTally();
  const rawTally = emptyTally();
  const order: string[] = [];
  const discarded: Array<{ round: number; ratio: number; elsewhere: Array<number | null> }> = [];
  try {
    const sha = await raw.script('LOAD', RAW_DECREMENT_LUA);
    await raw.set(stockKey, String(1e15));
    const now = Date.now();
    await redisGate.load({ saleId, startsAt: now - 1000, endsAt: now + 3600_000, perUserLimit: 1, available: Array.from({ length: SHARDS }, () => PLENTY), holds: [] });
    const rawDecide: Decide = async (): Promise<string> => (Number(await raw.evalsha(sha, 1, stockKey, '1')) >= 0 ? 'decremented' : 'refused');
    const gateDecide: Decide = async (i) =>
      (await redisGate.admit({ saleId, userId: `g${i}`, reservationId: `r${i}`, quantity: 1, now: Date.now(), startShard: i % SHARDS, takeStock: true })).kind;
    const next = { i: 0 };
    // The same warm-up for both (JIT, connections, script caches), in the same order as the first timed round.
    await drive(rawDecide, concurrency, warmup, next);
    await drive(gateDecide, concurrency, warmup, next);
    for (let round = 0; round < rounds; round++) {
      const sides: Array<['raw' | 'gate', Decide]> = [
        ['raw', rawDecide],
        ['gate', gateDecide],
      ];
      if (round % 2 === 1) sides.reverse();
      for (let attempt = 0; ; attempt++) {
        quietWaited += await waitForQuiet(admin, quietBudget);
        const started = performance.now();
        const pair: Array<['raw' | 'gate', Window]> = [];
        for (const [name, decide] of sides) pair.push([name, await window(admin, decide, concurrency, windowSeconds, next)]);
        const noisy = pair.some(([, w]) => (w.elsewhere ?? 0) > NOISY_CORES);
        if (noisy && attempt < MAX_RETRIES_PER_PAIR && quietBudget.seconds > 0) {
          // Other work started during the pair: measure it again (both sides), within the quiet-wait budget.
          quietBudget.seconds -= (performance.now() - started) / 1000;
          const rate = (name: string): number => {
            const w = pair.find(([n]) => n === name)?.[1];
            return w ? w.decisions / w.seconds : NaN;
          };
          discarded.push({ round, ratio: Math.round((rate('gate') / rate('raw')) * 100) / 100, elsewhere: pair.map(([, w]) => w.elsewhere) });
          continue;
        }
        for (const [name, w] of pair) {
          order.push(name);
          add(name === 'raw' ? rawTally : gateTally, w);
        }
        break;
      }
    }
  } finally {
    await redisGate.close();
    await admin.unlink(stockKey, ...gateKeys);
    await raw.quit();
  }
  const info = await admin.info('server');
  await admin.quit();
  const gate = result(gateTally);
  const rawEvalsha = result(rawTally);
  const pairRatios = gate.windows.map((g, i) => Math.round((g / (rawEvalsha.windows[i] ?? NaN)) * 100) / 100);
  const inProcess = await inProcessRate(lib, saleId, concurrency, warmup, seconds);
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  process.stdout.write(
    JSON.stringify({
      redisVersion: version,
      concurrency,
      clientOptions,
      rawScript: RAW_DECREMENT_LUA,
      windows: { perSide: rounds, seconds: windowSeconds, order, quietBudgetSeconds, quietWaitSeconds: Math.round(quietWaited * 10) / 10, discardedPairs: discarded },
      gate,
      rawEvalsha,
      pairRatios,
      inProcess,
    }) + '\n',
  );
};

main().catch((error: unknown) => {
  process.stderr.write(`gate driver failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
