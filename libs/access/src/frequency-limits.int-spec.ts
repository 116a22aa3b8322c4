import Redis from 'ioredis';
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

  const connect = async (): Promise<Redis> => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1, disconnectTimeout: 100 });
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
    const [a] = await twoInstances();
    await server.stop();
    try {
      const started = Date.now();
      const verdicts = [];
      for (let i = 0; i < 5; i++) verdicts.push(await a.check({ ip: '10.0.0.1', userId: 'u1' }));
      expect(verdicts.map((v) => v.ok)).toEqual([true, true, true, false, false]);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await server.start();
    }
  });
});
