import Redis from 'ioredis';
import { RedisServer } from '../../../../test/support/redis-server';
import { gateContract, snapshot } from '../../test/gate.contract';
import { GateUnavailable } from '../gate.port';
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

  it('releases and corrects after the script cache is flushed too', async () => {
    const gate = await RedisGate.connect(server.url);
    const s = snapshot({ available: [3, 3] });
    await gate.load(s);
    expect(await gate.admit({ saleId: s.saleId, userId: 'u1', reservationId: 'r1', quantity: 1, now: s.startsAt + 1, startShard: 1, takeStock: true })).toEqual({
      kind: 'admitted',
      shard: 1,
    });
    const admin = new Redis(server.url);
    await admin.script('FLUSH');
    await gate.release(s.saleId, 'r1');
    await admin.script('FLUSH');
    await gate.correct(s.saleId, 0, 1);
    expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 3], users: {}, holds: 0 });
    await admin.quit();
    await gate.close();
  });

  it('keeps the hold format that release and rebuilds read ("shard:quantity:taken:userId")', async () => {
    const gate = await RedisGate.connect(server.url);
    const s = snapshot({ available: [0, 0, 5], perUserLimit: 3 });
    await gate.load(s);
    await gate.admit({ saleId: s.saleId, userId: 'büyer:1', reservationId: 'r1', quantity: 2, now: s.startsAt + 1, startShard: 1, takeStock: true });
    await gate.admit({ saleId: s.saleId, userId: 'u2', reservationId: 'r2', quantity: 1, now: s.startsAt + 1, startShard: 0, takeStock: false });
    const admin = new Redis(server.url);
    expect(await admin.hgetall(`gate:{${s.saleId}}:holds`)).toEqual({ r1: '2:2:1:büyer:1', r2: '2:1:0:u2' });
    expect(await admin.hgetall(`gate:{${s.saleId}}:users`)).toEqual({ 'büyer:1': '2', u2: '1' });
    expect(await admin.hgetall(`gate:{${s.saleId}}:available`)).toEqual({ '0': '0', '1': '0', '2': '3' });
    await admin.quit();
    await gate.close();
  });

  it('honours a keyPrefix on every command, the pre-encoded admit included', async () => {
    const gate = await RedisGate.connect(server.url, { keyPrefix: 'tenant:' });
    const s = snapshot({ available: [1, 1] });
    await gate.load(s);
    expect(await gate.admit({ saleId: s.saleId, userId: 'u1', reservationId: 'r1', quantity: 1, now: s.startsAt + 1, startShard: 1, takeStock: true })).toEqual({
      kind: 'admitted',
      shard: 1,
    });
    const admin = new Redis(server.url);
    expect(await admin.hgetall(`tenant:gate:{${s.saleId}}:holds`)).toEqual({ r1: '1:1:1:u1' });
    expect(await admin.exists(`gate:{${s.saleId}}:holds`)).toBe(0);
    await gate.release(s.saleId, 'r1');
    expect(await gate.inspect(s.saleId)).toEqual({ available: [1, 1], users: {}, holds: 0 });
    await admin.quit();
    await gate.close();
  });

  it('answers GateUnavailable, not a verdict, when Redis is unreachable', async () => {
    const gate = await RedisGate.connect(server.url);
    const s = snapshot();
    await gate.load(s);
    await gate.close();
    await expect(gate.admit({ saleId: s.saleId, userId: 'u1', reservationId: 'r1', quantity: 1, now: s.startsAt + 1, startShard: 0, takeStock: true })).rejects.toBeInstanceOf(
      GateUnavailable,
    );
    await expect(gate.release(s.saleId, 'r1')).rejects.toBeInstanceOf(GateUnavailable);
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
