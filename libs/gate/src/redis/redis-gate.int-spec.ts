import Redis from 'ioredis';
import { RedisServer } from '../../../../test/support/redis-server';
import { gateContract, snapshot } from '../../test/gate.contract';
import { RedisGate, UnsafeRedisConfiguration } from './redis-gate';

RedisServer.describeWithRedis('Redis gate (own redis-server)', () => {
  const server = new RedisServer();
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  gateContract('redis', () => RedisGate.connect(server.url));

  it('keeps deciding after the script cache is flushed (EVALSHA falls back on NOSCRIPT)', async () => {
    const gate = await RedisGate.connect(server.url);
    const s = snapshot();
    await gate.load(s);
    const admin = new Redis(server.url);
    await admin.script('FLUSH');
    expect((await gate.admit({ saleId: s.saleId, userId: 'u1', reservationId: 'r1', quantity: 1, now: s.startsAt + 1, startShard: 0, takeStock: true })).kind).toBe('admitted');
    await admin.quit();
    await gate.close();
  });

  it('reports a sale as not loaded after Redis lost its data', async () => {
    const gate = await RedisGate.connect(server.url);
    const s = snapshot();
    await gate.load(s);
    const admin = new Redis(server.url);
    await admin.flushall();
    expect(await gate.admit({ saleId: s.saleId, userId: 'u1', reservationId: 'r1', quantity: 1, now: s.startsAt + 1, startShard: 0, takeStock: true })).toEqual({
      kind: 'not-loaded',
    });
    await admin.quit();
    await gate.close();
  });

  it('refuses to run against a Redis that may evict its keys', async () => {
    const admin = new Redis(server.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await expect(RedisGate.connect(server.url)).rejects.toBeInstanceOf(UnsafeRedisConfiguration);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.quit();
  });
});
