import { RedisGate } from '@flash/gate';
import { RedisServer } from '../support/redis-server';
import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
        users.map(async (u) => [u, (await client.request('GET', `/sales/${saleId}/access`, { token: client.token(u) })).body.purchaseToken as string] as const),
      ),
    );
  const attempt = (saleId: string, userId: string, key: string, purchaseToken: string) =>
    client
      .request('POST', `/sales/${saleId}/reservations`, {
        token: client.token(userId),
        headers: { 'idempotency-key': key },
        body: { quantity: 1, purchaseToken },
      })
      .catch(() => undefined);

  it('sells exactly 200 to 5,000 concurrent attempts by 1,000 users, and the gate agrees with the store shard by shard', async () => {
    const saleId = await createSale({ totalStock: 200, shards: 4, perUserLimit: 1 });
    const users = Array.from({ length: 1000 }, (_, i) => `redis-buyer-${i}`);
    const tokens = await tokensFor(saleId, users);
    const answers = await Promise.all(
      Array.from({ length: 5000 }, (_, i) => attempt(saleId, users[i % 1000]!, `redis-k-${i}-xxxx`, tokens.get(users[i % 1000]!)!)),
    );
    const won = answers.filter((a) => a?.status === 201);
    expect(won).toHaveLength(200);
    for (const a of answers) if (a && a.status !== 201) expect(['SOLD_OUT', 'LIMIT_EXCEEDED']).toContain(a.body.error.code);
    expect(new Set(won.map((a) => a!.body.userId)).size).toBe(200);

    const view = (await client.request('GET', `/admin/sales/${saleId}`, { token: admin })).body;
    expect(view.totals).toMatchObject({ reserved: 200, available: 0 });
    const gate = await RedisGate.connect(redis.url);
    const gateState = await gate.inspect(saleId);
    await gate.close();
    expect(gateState?.available).toEqual(view.shards.map((s: { available: number }) => s.available));
    expect(gateState?.holds).toBe(200);
    expect(Object.keys(gateState?.users ?? {})).toHaveLength(200);
  });

  const midSaleLoss = async (loseRedis: () => Promise<void>) => {
    const saleId = await createSale({ totalStock: 150, shards: 4, perUserLimit: 1 });
    const users = Array.from({ length: 600 }, (_, i) => `loss-${saleId.slice(0, 6)}-${i}`);
    const tokens = await tokensFor(saleId, users);
    const fire = (from: number, to: number) =>
      Promise.all(users.slice(from, to).map((u) => attempt(saleId, u, `loss-${u}-key1`, tokens.get(u)!)));

    const first = await fire(0, 100);
    await loseRedis();
    // Admissions pause (503, retryable) or wait for the rebuild; nothing is admitted past the store's stock.
    const during = await fire(100, 300);
    for (const a of during) if (a && a.status >= 500) expect(a.body.error.retryable).toBe(true);
    await sleep(500);
    const after = await fire(300, 600);

    const all = [...first, ...during, ...after];
    const won = all.filter((a) => a?.status === 201);
    const view = (await client.request('GET', `/admin/sales/${saleId}`, { token: admin })).body;
    expect(view.totals.reserved).toBe(won.length);
    expect(view.totals.reserved).toBeLessThanOrEqual(150);
    for (const shard of view.shards) expect(shard.reserved - shard.released).toBeLessThanOrEqual(shard.allocated);
    // The sale went on after the loss: demand (600) exceeds stock (150), so it sells out.
    expect(view.totals.reserved).toBe(150);
    expect(after.filter((a) => a?.status === 201).length + during.filter((a) => a?.status === 201).length).toBeGreaterThan(0);
    const ready = await client.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
  };

  it('rebuilds the gate from the store after Redis is flushed mid-sale, and never oversells', async () => {
    const Redis = (await import('ioredis')).default;
    await midSaleLoss(async () => {
      const admin = new Redis(redis.url);
      await admin.flushall();
      await admin.quit();
    });
  });

  it('pauses while Redis is down and rebuilds once it is back empty, and never oversells', async () => {
    await midSaleLoss(async () => {
      await redis.stop();
      setTimeout(() => void redis.start(), 300);
    });
  });
});
