import Redis from 'ioredis';
import { RedisGate } from '@flash/gate';
import { RedisServer } from '../support/redis-server';
import { ChaosClient } from './chaos-client';
import { checkRun, formatViolation, keepHistory } from './checker';
import { History } from './history';
import { chaosRuns, chaosSeed, Rng, runRng, sleep } from './rng';
import { ChaosServer } from './server';
import { ChaosSummary, describeViolations } from './summary';
import { CALM, ChaosProxy } from './tcp-proxy';
import { chaosSale, createSale, runSpike, topUp, waitForSagas, prepareSpike } from './workload';

/**
 * The Redis gate (REDIS_URL, the test's own redis-server) under faults at a random moment of a spike: Redis killed
 * (down for a while, back empty), flushed (FLUSHALL), restarted empty at once; a TCP proxy between the api and
 * Redis that delays, drops and resets connections at random; and the api itself SIGKILLed while Redis keeps the
 * gate's state (admissions whose claim never happened). Expected: never oversold, every acknowledged reservation kept,
 * retryable 503s during the outage, and after recovery the sale sells out (demand > stock).
 */
const KIND = 'redis';
const SEED = chaosSeed();
const RUNS = chaosRuns(8);
const MODES = ['kill', 'flush', 'restart-empty', 'proxy', 'api-kill'] as const;
type Mode = (typeof MODES)[number];
const SWEEP_MS = 100;
const SETTLE_MS = 300;

RedisServer.describeWithRedis(`chaos: Redis gate faults mid-spike (seed ${SEED}, ${RUNS} runs)`, () => {
  const redis = new RedisServer();
  let proxy: ChaosProxy;
  const env = { SWEEP_INTERVAL_MS: String(SWEEP_MS), COMPENSATION_SETTLE_MS: String(SETTLE_MS) };
  // Two apis on the same Redis: one connects directly (kill, flush, restart), one through the chaos proxy.
  let direct: ChaosServer;
  let proxied: ChaosServer;
  const clients = new Map<ChaosServer, ChaosClient>();
  const summary = new ChaosSummary(KIND, SEED);

  beforeAll(async () => {
    await redis.start();
    proxy = new ChaosProxy(redis.port, runRng(SEED, `${KIND}-proxy`, 0));
    await proxy.start();
    direct = new ChaosServer({ ...env, REDIS_URL: redis.url });
    proxied = new ChaosServer({ ...env, REDIS_URL: proxy.url });
    await Promise.all([direct.start(), proxied.start()]);
    for (const s of [direct, proxied]) clients.set(s, new ChaosClient(s.baseUrl, s.jwtSecret, { connections: 64, timeoutMs: 5000 }));
  }, 60_000);

  afterAll(async () => {
    summary.print();
    for (const c of clients.values()) await c.close();
    for (const s of [direct, proxied]) {
      await s.stop();
      s.cleanup();
    }
    await proxy.stop();
    await redis.stop();
  });

  const flushAll = async (): Promise<void> => {
    const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
    await admin.flushall();
    await admin.quit();
  };

  /** Injects the mode's fault; resolves once the fault is over (Redis back, proxy calm again). Returns faults injected. */
  const inject = async (mode: Mode, rng: Rng, spikeMs: number): Promise<number> => {
    switch (mode) {
      case 'kill': {
        await redis.stop();
        // Half the outages outlast the spike and its clients' retries: nothing but the instance itself can notice
        // that Redis is back.
        await sleep(rng.chance(0.5) ? rng.int(100, 900) : rng.int(1500, 2500));
        await redis.start();
        return 1;
      }
      case 'flush':
        await flushAll();
        return 1;
      case 'restart-empty':
        await redis.restart();
        return 1;
      case 'api-kill': {
        await direct.kill();
        await sleep(rng.int(0, 300));
        await direct.start();
        return 1;
      }
      case 'proxy': {
        const before = proxy.faults;
        proxy.set(
          // Latency from a few ms to stalls of over a second, and connections closed or reset mid-command.
          { delayChance: rng() * 0.5, delayMs: [1, rng.pick([50, 300, 1500])], dropChance: rng() * 0.05, resetChance: rng() * 0.05 },
          runRng(SEED, `${KIND}-proxy`, rng.int(1, 1_000_000)),
        );
        await sleep(spikeMs + rng.int(100, 500));
        proxy.set(CALM);
        return Math.max(1, proxy.faults - before);
      }
    }
  };

  const run = async (seed: number, index: number): Promise<string[]> => {
    const rng = runRng(seed, KIND, index);
    const mode = MODES[index % MODES.length]!;
    const server = mode === 'proxy' ? proxied : direct;
    const client = clients.get(server)!;
    const tag = `r${seed}-${index}`;
    const { saleId, stock, perUserLimit, history, attempts, tokens } = await prepareSpike(client, rng, tag, [14, 24]);

    history.phase = 'spike';
    const spreadMs = rng.int(150, 500);
    // Demand is a few times the stock: the sale is decided in the first part of the spread, so the fault lands there.
    const faultAt = rng.int(0, Math.round(spreadMs * 0.35));
    const spike = runSpike(client, history, rng, { saleId, attempts, spreadMs, clientRetries: [0, 3], retryBackoffMs: [50, 300] }, tokens);
    await sleep(faultAt);
    history.phase = `spike+${mode}`;
    const faults = await inject(mode, rng, spreadMs - faultAt);
    await spike;
    if (mode === 'api-kill') await client.reset();

    history.phase = 'recovery';
    // The fault is over: the instance reports ready again on its own, before any new purchase reaches the gate.
    const recovered = await waitForSagas(client, 5_000);
    await topUp(client, history, saleId, tag, { maxAttempts: stock * 3 + 30, deadlineMs: 15_000 });
    const report = await checkRun({
      history,
      client,
      sale: { saleId, totalStock: stock, perUserLimit },
      dataDir: server.dataDir,
      expectSoldOut: true,
      only503: true,
    });
    const violations = report.violations.map(formatViolation);
    if (recovered?.status !== 200) violations.push(`/health/ready answered ${recovered?.status ?? 'nothing'} ${JSON.stringify(recovered?.body)} 5 s after the fault ended`);
    const ready = await client.request('GET', '/health/ready');
    if (ready.status !== 200) violations.push(`/health/ready answers ${ready.status} ${JSON.stringify(ready.body)} after recovery`);
    summary.add(history, { ...report, violations }, faults);
    keepHistory(`${KIND}-${seed}-${index}`, history);
    return violations.length ? [describeViolations(`${KIND} run ${index} (${mode})`, seed, violations, history)] : [];
  };

  /**
   * Regression (found by CHAOS_SEED=42, run 4, api-kill, and again by CHAOS_SEED=43 run 14 once the faults were
   * moved into the decisive part of the spike): the api was SIGKILLed between the gate's admit and the buyer's claim;
   * Redis kept those holds, nothing ever gave them back, and the sale stayed at "2 of 14 units still available" with
   * every later buyer refused SOLD_OUT. Fixed in GateKeeper: a refusal the store contradicts, with no admission of
   * this process still in flight, rebuilds the gate from the store.
   */
  it('regression seed 43 run 14: an api killed between admit and claim leaves no stock stranded in the gate', async () => {
    const problems = await run(43, 14);
    if (problems.length) console.error(problems.join('\n'));
    expect(problems).toEqual([]);
  }, 90_000);

  it('regression: a gate hold whose attempt never reached the store does not strand its unit or its buyer', async () => {
    const client = clients.get(direct)!;
    const saleId = await createSale(client, chaosSale({ totalStock: 4, shards: 1, perUserLimit: 1 }));
    const history = new History();
    await topUp(client, history, saleId, 'strand-first', { maxAttempts: 1, deadlineMs: 5000 }); // loads the gate
    // What an api killed right after the gate's admit leaves behind (or an admit whose reply was lost).
    const gate = await RedisGate.connect(redis.url);
    const ghost = await gate.admit({ saleId, userId: 'strand-ghost', reservationId: '00000000-0000-4000-8000-0000000000aa', quantity: 1, now: Date.now(), startShard: 0, takeStock: true });
    await gate.close();
    expect(ghost).toEqual({ kind: 'admitted', shard: 0 });
    // The stranded buyer buys with another key: the gate counts the dead hold against them, the store does not.
    const token = await client.purchaseToken(saleId, 'strand-ghost');
    const deadline = Date.now() + 10_000;
    let own = await client.reserve(history, { saleId, userId: 'strand-ghost', idempotencyKey: 'strand-ghost-key-2', quantity: 1 }, token!);
    while (own.outcome !== 'ok' && Date.now() < deadline) {
      await sleep(250);
      own = await client.reserve(history, { saleId, userId: 'strand-ghost', idempotencyKey: 'strand-ghost-key-2', quantity: 1 }, token!);
    }
    expect(own.outcome).toBe('ok');
    await topUp(client, history, saleId, 'strand-later', { maxAttempts: 60, deadlineMs: 10_000 });
    const report = await checkRun({ history, client, sale: { saleId, totalStock: 4, perUserLimit: 1 }, dataDir: direct.dataDir, expectSoldOut: true, only503: true });
    if (report.violations.length) console.error(describeViolations('stranded gate hold', 42, report.violations, history));
    expect(report.violations).toEqual([]);
  }, 60_000);

  /**
   * Regression (found by CHAOS_SEED=7, runs 5 and 15, kill with an outage longer than the spike): after a Redis
   * outage, /health/ready stayed 503 until some purchase happened to reach the gate, so an instance a load balancer
   * took out of rotation for being unready got no purchase and stayed out for good. Fixed: the readiness check
   * probes an unreachable gate.
   */
  it('regression seed 7 run 5: readiness returns after a Redis outage that outlasts the spike', async () => {
    const problems = await run(7, 5);
    if (problems.length) console.error(problems.join('\n'));
    expect(problems).toEqual([]);
  }, 90_000);

  it('regression: /health/ready comes back after Redis does, with no purchase traffic', async () => {
    const client = clients.get(direct)!;
    const saleId = await createSale(client, chaosSale({ totalStock: 3, shards: 1 }));
    const history = new History();
    await redis.stop();
    // A purchase while Redis is down: a retryable 503, and the instance is unready.
    const token = await client.purchaseToken(saleId, 'ready-probe');
    const during = await client.reserve(history, { saleId, userId: 'ready-probe', idempotencyKey: 'ready-probe-key-1', quantity: 1 }, token!);
    expect(during).toMatchObject({ outcome: 'unknown', status: 503, code: 'OVERLOADED' });
    expect((await client.request('GET', '/health/ready')).status).toBe(503);
    await redis.start();
    const ready = await waitForSagas(client, 5_000);
    expect(ready?.status).toBe(200);
  }, 30_000);

  for (let i = 0; i < RUNS; i++) {
    it(`run ${i}: ${MODES[i % MODES.length]!} during the spike, recover, check`, async () => {
      const problems = await run(SEED, i);
      if (problems.length) console.error(problems.join('\n'));
      expect(problems).toEqual([]);
    }, 90_000);
  }
});
