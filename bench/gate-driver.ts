import path from 'node:path';

/**
 * Row 4's system under test: the eligibility gate's `admit` driven from one Node process (pinned to the SUT core)
 * with many decisions in flight, each for a new buyer on a sale with plenty of stock (the script's longest path:
 * checks, then three writes). First the Redis adapter (one EVALSHA round trip per decision), then the in-process
 * twin. The gate library is loaded at run time, not imported, so a change of its API fails this row only and never
 * the build. Prints one JSON line.
 */
interface Gate {
  load(snapshot: unknown): Promise<void>;
  admit(request: unknown): Promise<{ kind: string }>;
  close(): Promise<void>;
}

interface Measured {
  readonly decisions: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly verdicts: Record<string, number>;
}

const SHARDS = 8;

const drive = async (gate: Gate, saleId: string, concurrency: number, seconds: number, offset: number): Promise<Measured> => {
  const verdicts: Record<string, number> = {};
  let n = offset;
  let decisions = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = n++;
      const verdict = await gate.admit({ saleId, userId: `g${i}`, reservationId: `r${i}`, quantity: 1, now: Date.now(), startShard: i % SHARDS });
      verdicts[verdict.kind] = (verdicts[verdict.kind] ?? 0) + 1;
      decisions++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  return { decisions, seconds: elapsed, perSecond: decisions / elapsed, verdicts };
};

const measure = async (gate: Gate, saleId: string, concurrency: number, warmup: number, seconds: number): Promise<Measured> => {
  const now = Date.now();
  await gate.load({ saleId, startsAt: now - 1000, endsAt: now + 3600_000, perUserLimit: 1, available: Array.from({ length: SHARDS }, () => 100_000_000), holds: [] });
  await drive(gate, saleId, concurrency, warmup, 0);
  return drive(gate, saleId, concurrency, seconds, 1e9);
};

const main = async (): Promise<void> => {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const concurrency = Number(process.env.CONCURRENCY ?? 256);
  const warmup = Number(process.env.WARMUP_SECONDS ?? 1);
  const seconds = Number(process.env.SECONDS ?? 3);
  /* eslint-disable @typescript-eslint/no-require-imports */
  const lib = require(path.join(__dirname, '../libs/gate/src/index.js')) as Record<string, any>;
  const Redis = require('ioredis');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const saleId = `bench-gate-${process.pid}-${Date.now()}`;
  const keys = ['meta', 'available', 'users', 'holds'].map((k) => `gate:{${saleId}}:${k}`);
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  const redisGate = (await lib.RedisGate.connect(url)) as Gate;
  let redis: Measured;
  try {
    redis = await measure(redisGate, saleId, concurrency, warmup, seconds);
  } finally {
    await redisGate.close();
    await admin.del(...keys);
  }
  const info = String(await admin.info('server'));
  await admin.quit();
  const inProcess = await measure(new lib.InProcessGate() as Gate, saleId, concurrency, warmup, seconds);
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  process.stdout.write(JSON.stringify({ redisVersion: version, concurrency, redis, inProcess }) + '\n');
};

main().catch((error: unknown) => {
  process.stderr.write(`gate driver failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
