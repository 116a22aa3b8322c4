import Redis from 'ioredis';
import { RedisServer } from '../support/redis-server';
import { ApiClient, ApiResponse, openSale } from './support/client';
import { ServerProcess } from './support/server';

/** One purchase attempt as the client saw it: an answer, or the transport error that stood in for one. */
interface Attempt {
  readonly userId: string;
  readonly key: string;
  readonly res?: ApiResponse;
  readonly error?: unknown;
}

/** A 201's body: the order the store placed. */
interface Won {
  readonly orderId: string;
  readonly userId: string;
  readonly shard: number;
}

interface ShardView {
  readonly shard: number;
  readonly allocated: number;
  readonly reserved: number;
  readonly released: number;
  readonly available: number;
}

/** What Redis holds for a sale, read straight from its keys: no field is defaulted. */
interface GateState {
  readonly available: number[];
  readonly users: Record<string, number>;
  /** reservation id → "shard:quantity:taken:userId" */
  readonly holds: Record<string, string>;
}

/** Answers counted by "status" or "status CODE": a tally compared whole, so an unexpected answer fails by name. */
const tally = (answers: readonly ApiResponse[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const label = a.status < 300 ? String(a.status) : `${a.status} ${String(a.body?.error?.code)}`;
    out[label] = (out[label] ?? 0) + 1;
  }
  return out;
};

/** The answers, after asserting that no request failed without one (a failure is counted and reported, not dropped). */
const answersOf = (attempts: readonly Attempt[]): ApiResponse[] => {
  const failed = attempts.filter((a) => a.res === undefined);
  expect(failed.map((a) => `${a.userId}/${a.key}: ${a.error instanceof Error ? a.error.message : String(a.error)}`)).toEqual([]);
  return attempts.map((a) => a.res as ApiResponse);
};

const wonIn = (answers: readonly ApiResponse[]): Won[] =>
  answers.filter((a) => a.status === 201).map((a) => ({ orderId: a.body.orderId as string, userId: a.body.userId as string, shard: a.body.shard as number }));

const countByShard = (won: readonly Won[], shards: number): number[] => Array.from({ length: shards }, (_, s) => won.filter((w) => w.shard === s).length);

/** Polls until the condition holds; the deadline only guards against a hang (the machine is shared). */
const waitFor = async (what: string, condition: () => boolean | Promise<boolean>, deadlineMs = 30_000): Promise<void> => {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

RedisServer.describeWithRedis('the funnel with the Redis gate (REDIS_URL)', () => {
  const redis = new RedisServer();
  let server: ServerProcess;
  let client: ApiClient;
  let admin: string;

  beforeAll(async () => {
    await redis.start();
    server = new ServerProcess({ env: { REDIS_URL: redis.url, SWEEP_INTERVAL_MS: '200' } });
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 128);
    admin = client.token('admin-1', ['admin']);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
    await redis.stop();
  });

  const createSale = async (overrides: Record<string, unknown>) => {
    const res = await client.request('POST', '/admin/sales', { token: admin, body: openSale(overrides) });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const tokensFor = async (saleId: string, users: string[]) =>
    new Map(
      await Promise.all(
        users.map(async (u) => {
          const res = await client.request('GET', `/sales/${saleId}/access`, { token: client.token(u) });
          expect(res.status).toBe(200);
          return [u, res.body.purchaseToken as string] as const;
        }),
      ),
    );
  const attempt = (saleId: string, userId: string, key: string, purchaseToken: string): Promise<Attempt> =>
    client
      .request('POST', `/sales/${saleId}/reservations`, {
        token: client.token(userId),
        headers: { 'idempotency-key': key },
        body: { quantity: 1, purchaseToken },
      })
      .then(
        (res) => ({ userId, key, res }),
        (error: unknown) => ({ userId, key, error }),
      );

  /** The store's per-shard truth (GET /admin/sales/:id folds the shard streams). */
  const storeView = async (saleId: string): Promise<{ shards: ShardView[]; totals: { reserved: number; available: number } }> => {
    const res = await client.request('GET', `/admin/sales/${saleId}`, { token: admin });
    expect(res.status).toBe(200);
    return res.body;
  };

  const withRedis = async <T>(use: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis(redis.url);
    try {
      return await use(r);
    } finally {
      await r.quit();
    }
  };

  const flushRedis = () => withRedis((r) => r.flushall());

  /** The gate's state in Redis. Every shard's field must be there: a missing one fails here instead of reading as 0. */
  const gateState = (saleId: string, shards: number): Promise<GateState> =>
    withRedis(async (r) => {
      const meta = await r.hgetall(`gate:{${saleId}}:meta`);
      expect(meta.shards).toBe(String(shards));
      const available = await r.hgetall(`gate:{${saleId}}:available`);
      const fields = Array.from({ length: shards }, (_, s) => String(s));
      expect({ availableFields: Object.keys(available).sort() }).toEqual({ availableFields: fields.sort() });
      const users = await r.hgetall(`gate:{${saleId}}:users`);
      return {
        available: Array.from({ length: shards }, (_, s) => Number(available[String(s)])),
        users: Object.fromEntries(Object.entries(users).map(([u, q]) => [u, Number(q)])),
        holds: await r.hgetall(`gate:{${saleId}}:holds`),
      };
    });

  /** The gate's decisions so far, by verdict (GET /metrics). */
  const gateDecisions = async (): Promise<Record<string, number>> => {
    const text = String((await client.request('GET', '/metrics')).body);
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^gate_decisions_total\{verdict="([A-Za-z_-]+)"\} (\d+)$/gm)) out[m[1] as string] = Number(m[2]);
    return out;
  };

  /** Every 201 is an order the store has, for that buyer and sale (read back as admin). */
  const expectOrdersInStore = async (saleId: string, won: readonly Won[]) => {
    const found = await Promise.all(won.map((w) => client.request('GET', `/orders/${w.orderId}`, { token: admin })));
    const mismatched = won.filter((w, i) => {
      const o = found[i] as ApiResponse;
      return o.status !== 200 || o.body.orderId !== w.orderId || o.body.userId !== w.userId || o.body.saleId !== saleId || o.body.status !== 'reserved';
    });
    expect(mismatched).toEqual([]);
  };

  /** The store's counts per shard are the 201s on that shard: nothing acknowledged is missing, nothing unacknowledged is there. */
  const expectStoreMatchesAnswers = (view: { shards: ShardView[] }, won: readonly Won[]) => {
    expect(view.shards.map((s) => s.reserved - s.released)).toEqual(countByShard(won, view.shards.length));
    for (const s of view.shards) expect(s.reserved - s.released).toBeLessThanOrEqual(s.allocated);
  };

  /** The gate holds exactly these orders, each on the shard and for the buyer the store placed it with. */
  const expectGateHolds = (gate: GateState, won: readonly Won[]) => {
    expect(gate.holds).toEqual(Object.fromEntries(won.map((w) => [w.orderId, `${w.shard}:1:1:${w.userId}`])));
    expect(gate.users).toEqual(Object.fromEntries(won.map((w) => [w.userId, 1])));
  };

  it('sells exactly 200 to 5,000 concurrent attempts by 1,000 users, and the gate agrees with the store shard by shard, part-sold and sold out', async () => {
    const saleId = await createSale({ totalStock: 200, shards: 4, perUserLimit: 1 });
    const users = Array.from({ length: 1000 }, (_, i) => `redis-buyer-${i}`);
    const tokens = await tokensFor(saleId, users);
    const fire = (count: number, buyers: number, round: string) =>
      Promise.all(Array.from({ length: count }, (_, i) => attempt(saleId, users[i % buyers]!, `redis-${round}-${i}-xxxx`, tokens.get(users[i % buyers]!)!)));

    // Part-sold: 100 buyers, three concurrent attempts each. Each buys once; the per-shard counts are left non-zero.
    const partAnswers = answersOf(await fire(300, 100, 'part'));
    expect(tally(partAnswers)).toEqual({ '201': 100, '409 LIMIT_EXCEEDED': 200 });
    const partWon = wonIn(partAnswers);
    expect(new Set(partWon.map((w) => w.userId)).size).toBe(100);
    const partView = await storeView(saleId);
    expectStoreMatchesAnswers(partView, partWon);
    for (const s of partView.shards) {
      expect(s.available).toBeGreaterThan(0);
      expect(s.available).toBeLessThan(s.allocated);
    }
    const partGate = await gateState(saleId, 4);
    expect(partGate.available).toEqual(partView.shards.map((s) => s.available));
    expectGateHolds(partGate, partWon);

    // Sold out: the other 4,700 attempts, by all 1,000 users.
    const restAnswers = answersOf(await fire(4700, 1000, 'rest'));
    const restTally = tally(restAnswers);
    expect(restTally['201']).toBe(100);
    expect(Object.keys(restTally).sort()).toEqual(['201', '409 LIMIT_EXCEEDED', '409 SOLD_OUT']);
    const won = [...partWon, ...wonIn(restAnswers)];
    expect(new Set(won.map((w) => w.userId)).size).toBe(200);

    const view = await storeView(saleId);
    expect(view.totals).toMatchObject({ reserved: 200, available: 0 });
    expectStoreMatchesAnswers(view, won);
    await expectOrdersInStore(saleId, won);
    const gate = await gateState(saleId, 4);
    expect(gate.available).toEqual(view.shards.map((s) => s.available));
    expectGateHolds(gate, won);
  });

  it('rebuilds the gate from the store when Redis is flushed under a burst: per-buyer limits and per-shard stock survive, and it never oversells', async () => {
    const saleId = await createSale({ totalStock: 600, shards: 4, perUserLimit: 1 });
    const users = Array.from({ length: 700 }, (_, i) => `flush-${saleId.slice(0, 6)}-${i}`);
    const tokens = await tokensFor(saleId, users);
    const early = users.slice(0, 60);
    const burst = users.slice(60, 300);
    const late = users.slice(300);
    const fire = (buyers: readonly string[], round: string) => Promise.all(buyers.map((u) => attempt(saleId, u, `flush-${u}-${round}`, tokens.get(u)!)));
    const limitRefusalsByGate = async () => (await gateDecisions()).LIMIT_EXCEEDED ?? 0;

    // 1. Before any loss: 60 buyers, settled in the store.
    const earlyAnswers = answersOf(await fire(early, 'k1'));
    expect(tally(earlyAnswers)).toEqual({ '201': 60 });
    const earlyWon = wonIn(earlyAnswers);

    // 2. A burst of 240 new buyers, Redis flushed while it is in flight; right after the flush the early buyers try
    //    again with new keys: the rebuilt gate must know they bought (the gate refuses them, not only the store).
    const limitRefusalsBefore = await limitRefusalsByGate();
    const flusher = new Redis(redis.url); // connected beforehand, so the flush goes out the moment it is set off
    await flusher.ping();
    let answered = 0;
    let flush: Promise<number> | undefined; // resolves to the number of burst answers in when the flush was done
    const burstDone = Promise.all(
      burst.map((u) =>
        attempt(saleId, u, `flush-${u}-k1`, tokens.get(u)!).then((a) => {
          if (++answered === 20) flush = flusher.flushall().then(() => answered);
          return a;
        }),
      ),
    );
    await waitFor('the 20th answer of the burst, which sets off the flush', () => flush !== undefined);
    const answeredWhenFlushed = await flush!;
    await flusher.quit();
    const retries = fire(early, 'k2');
    const burstAnswers = answersOf(await burstDone);
    const retryAnswers = answersOf(await retries);
    expect(answeredWhenFlushed).toBeLessThan(burst.length); // requests were in flight across the flush

    expect(tally(burstAnswers)).toEqual({ '201': 240 });
    expect(tally(retryAnswers)).toEqual({ '409 LIMIT_EXCEEDED': 60 });
    expect((await limitRefusalsByGate()) - limitRefusalsBefore).toBe(60);

    const soFar = [...earlyWon, ...wonIn(burstAnswers)];
    expect(new Set(soFar.map((w) => w.userId)).size).toBe(300);
    const view = await storeView(saleId);
    expect(view.totals.reserved).toBe(300);
    expectStoreMatchesAnswers(view, soFar);
    await expectOrdersInStore(saleId, soFar);

    // The gate after that rebuild: every hold it has is an order of the store (same shard, same buyer); the holds it
    // lacks can only be burst admissions made before the flush that reached the store after the rebuild read it, and
    // their units are still counted available in the gate (the store refuses what the gate lets through beyond its
    // stock). Everything else is exact: per shard, gate = store + the units of the holds the flush lost there.
    const afterFlush = await gateState(saleId, 4);
    const held = soFar.filter((w) => w.orderId in afterFlush.holds);
    const lost = soFar.filter((w) => !(w.orderId in afterFlush.holds));
    expect(lost.filter((w) => !burst.includes(w.userId))).toEqual([]);
    expect(earlyWon.filter((w) => !(w.orderId in afterFlush.holds))).toEqual([]);
    expectGateHolds(afterFlush, held);
    const lostByShard = countByShard(lost, 4);
    expect(afterFlush.available).toEqual(view.shards.map((s, i) => s.available + (lostByShard[i] as number)));

    // 3. Flushed again with nothing in flight; every buyer so far tries again: the rebuild must give back the store's
    //    numbers exactly, stock part-sold on every shard, and refuse every one of them itself.
    await flushRedis();
    const limitRefusalsBeforeQuiet = await limitRefusalsByGate();
    const againAnswers = answersOf(await fire([...early, ...burst], 'k3'));
    expect(tally(againAnswers)).toEqual({ '409 LIMIT_EXCEEDED': 300 });
    expect((await limitRefusalsByGate()) - limitRefusalsBeforeQuiet).toBe(300);
    const quietView = await storeView(saleId);
    expect(quietView.shards).toEqual(view.shards);
    const rebuilt = await gateState(saleId, 4);
    for (const s of quietView.shards) {
      expect(s.available).toBeGreaterThan(0);
      expect(s.available).toBeLessThan(s.allocated);
    }
    expect(rebuilt.available).toEqual(quietView.shards.map((s) => s.available));
    expectGateHolds(rebuilt, soFar);

    // 4. The sale goes on to sell out: 400 new buyers for the 300 units left.
    const lateAnswers = answersOf(await fire(late, 'k1'));
    expect(tally(lateAnswers)).toEqual({ '201': 300, '409 SOLD_OUT': 100 });
    const won = [...soFar, ...wonIn(lateAnswers)];
    expect(new Set(won.map((w) => w.userId)).size).toBe(600);
    const finalView = await storeView(saleId);
    expect(finalView.totals).toMatchObject({ reserved: 600, available: 0 });
    expectStoreMatchesAnswers(finalView, won);
    await expectOrdersInStore(saleId, won.slice(300));
    const final = await gateState(saleId, 4);
    expect(final.available).toEqual([0, 0, 0, 0]);
    expectGateHolds(final, won);
    expect((await client.request('GET', '/health/ready')).status).toBe(200);
  });

  it('pauses while Redis is down and rebuilds once it is back empty, and never oversells', async () => {
    const saleId = await createSale({ totalStock: 150, shards: 4, perUserLimit: 1 });
    const users = Array.from({ length: 600 }, (_, i) => `down-${saleId.slice(0, 6)}-${i}`);
    const tokens = await tokensFor(saleId, users);
    const fire = (from: number, to: number) => Promise.all(users.slice(from, to).map((u) => attempt(saleId, u, `down-${u}-key1`, tokens.get(u)!)));

    const first = answersOf(await fire(0, 100));
    expect(tally(first)).toEqual({ '201': 100 });
    await redis.stop();
    const restarted = new Promise<void>((resolve, reject) => setTimeout(() => void redis.start().then(resolve, reject), 300));
    // Admissions pause (503, retryable) or wait for the rebuild; nothing is admitted past the store's stock.
    const during = answersOf(await fire(100, 300));
    await restarted;
    for (const a of during) if (a.status !== 201) expect({ status: a.status, retryable: a.body.error.retryable }).toEqual({ status: 503, retryable: true });
    await waitFor('the api to report ready again (the gate reachable)', async () => (await client.request('GET', '/health/ready')).status === 200);
    const after = answersOf(await fire(300, 600));
    for (const a of after) expect(['201', '409 SOLD_OUT']).toContain(Object.keys(tally([a]))[0]);

    const won = [...first, ...during, ...after].filter((a) => a.status === 201);
    const view = await storeView(saleId);
    expect(view.totals.reserved).toBe(won.length);
    for (const shard of view.shards) expect(shard.reserved - shard.released).toBeLessThanOrEqual(shard.allocated);
    // The sale went on after the loss: demand (600) exceeds stock (150), so it sells out.
    expect(view.totals.reserved).toBe(150);
    expect(after.filter((a) => a.status === 201).length + during.filter((a) => a.status === 201).length).toBe(50);
    const gate = await gateState(saleId, 4);
    expect(gate.available).toEqual(view.shards.map((s) => s.available));
  });
});
