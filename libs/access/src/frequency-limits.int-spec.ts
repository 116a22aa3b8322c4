import Redis from 'ioredis';
import { eventually, settlesWithin } from '../../../test/support/eventually';
import { RedisServer } from '../../../test/support/redis-server';
import { FrequencyLimits, FrequencyLimitSettings } from './frequency-limits';

const settings: FrequencyLimitSettings = {
  enabled: true,
  perUser: { points: 3, durationS: 1 },
  perIp: { points: 1000, durationS: 1 },
  admission: { points: 4, durationS: 1 },
};

RedisServer.describeWithRedis('FrequencyLimits on Redis (own redis-server)', () => {
  const server = new RedisServer();
  const clients: Redis[] = [];
  let prefix = 0;

  const connect = async (options: { retryStrategy?: () => number } = {}): Promise<Redis> => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, disconnectTimeout: 100, ...options });
    clients.push(client);
    await client.ping();
    return client;
  };
  const twoInstances = async (): Promise<[FrequencyLimits, FrequencyLimits]> => {
    const keyPrefix = `test:${++prefix}`;
    return [new FrequencyLimits(settings, { redis: await connect(), keyPrefix }), new FrequencyLimits(settings, { redis: await connect(), keyPrefix })];
  };

  beforeAll(() => server.start());
  afterAll(async () => {
    await server.stop();
    for (const c of clients) c.disconnect();
  });

  it('shares a user limit between instances', async () => {
    const [a, b] = await twoInstances();
    expect(await a.check({ ip: '10.0.0.1', userId: 'u1' })).toEqual({ ok: true });
    expect(await b.check({ ip: '10.0.0.2', userId: 'u1' })).toEqual({ ok: true });
    expect(await a.check({ ip: '10.0.0.1', userId: 'u1' })).toEqual({ ok: true });
    expect(await b.check({ ip: '10.0.0.2', userId: 'u1' })).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
  });

  it('keeps global admission per instance', async () => {
    const [a, b] = await twoInstances();
    for (let i = 0; i < 4; i++) expect((await a.check({ ip: '10.0.0.1', userId: `a${i}` })).ok).toBe(true);
    expect((await a.check({ ip: '10.0.0.1', userId: 'a-late' })).ok).toBe(false);
    expect((await b.check({ ip: '10.0.0.1', userId: 'b0' })).ok).toBe(true);
  });

  it('tightens the shared limits too', async () => {
    const [a] = await twoInstances();
    a.tighten(3);
    expect((await a.check({ ip: '10.0.0.1', userId: 'u1' })).ok).toBe(true);
    expect((await a.check({ ip: '10.0.0.1', userId: 'u1' })).ok).toBe(false);
  });

  it('keeps limiting from memory, without waiting, while Redis is away', async () => {
    // A client that, once Redis is gone, does not try to reconnect during this test: a check that waited for Redis
    // (queued behind the reconnect) could never settle, so settling at all shows it was decided from memory.
    const redis = await connect({ retryStrategy: () => 3_600_000 });
    // A window longer than the test, so the verdicts cannot depend on how long the checks take.
    const a = new FrequencyLimits({ ...settings, perUser: { points: 3, durationS: 600 } }, { redis, keyPrefix: `test:${++prefix}` });
    await server.stop();
    try {
      await eventually('the client to see that Redis is gone', () => redis.status === 'reconnecting', { seen: () => redis.status });
      const verdicts = await settlesWithin(
        'five checks while Redis is away (a check waiting for Redis never settles here)',
        (async () => {
          const out = [];
          for (let i = 0; i < 5; i++) out.push(await a.check({ ip: '10.0.0.1', userId: 'u1' }));
          return out;
        })(),
      );
      expect(verdicts.map((v) => v.ok)).toEqual([true, true, true, false, false]);
      expect(verdicts[3]).toMatchObject({ ok: false, code: 'RATE_LIMITED', reason: 'too many purchase attempts from this account' });
      expect(redis.status).toBe('reconnecting'); // all decided while Redis was still unreachable
    } finally {
      await server.start();
    }
  });
});
