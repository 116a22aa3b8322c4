import Redis from 'ioredis';
import { eventually, settlesWithin } from '../../../../test/support/eventually';
import { RedisServer } from '../../../../test/support/redis-server';
import { gateContract, snapshot } from '../../test/gate.contract';
import { AdmitRequest, GateUnavailable } from '../gate.port';
import { MAX_ADMIT_BATCH, RedisGate, UnsafeRedisConfiguration } from './redis-gate';

const admitOf = (saleId: string, userId: string, reservationId: string, now: number): AdmitRequest => ({
  saleId,
  userId,
  reservationId,
  quantity: 1,
  now,
  startShard: 0,
  takeStock: true,
});

/** How many times Redis ran a command since its stats were last reset (INFO commandstats). */
const calls = async (admin: Redis, command: string): Promise<number> => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await admin.info('commandstats'))?.[1] ?? 0);

RedisServer.describeWithRedis('Redis gate (own redis-server)', () => {
  const server = new RedisServer();
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  gateContract('redis', () => RedisGate.connect(server.url));

  it('sends the admits of one turn as one EVALSHA per sale, at most MAX_ADMIT_BATCH decisions each', async () => {
    const gate = await RedisGate.connect(server.url);
    const a = snapshot({ available: [1000], perUserLimit: 1 });
    const b = snapshot({ available: [1000], perUserLimit: 1 });
    await gate.load(a);
    await gate.load(b);
    const admin = new Redis(server.url);
    await admin.config('RESETSTAT');
    const many = MAX_ADMIT_BATCH + 10;
    const verdicts = await Promise.all([
      ...Array.from({ length: many }, (_, i) => gate.admit(admitOf(a.saleId, `u${i}`, `r${i}`, a.startsAt + 1))),
      ...Array.from({ length: 5 }, (_, i) => gate.admit(admitOf(b.saleId, `u${i}`, `r${i}`, b.startsAt + 1))),
    ]);
    expect(verdicts.every((v) => v.kind === 'admitted')).toBe(true);
    // Sale a: one full batch and the rest of the turn; sale b: one batch.
    expect(await calls(admin, 'evalsha')).toBe(3);
    expect((await gate.inspect(a.saleId))?.available).toEqual([1000 - many]);
    await admin.quit();
    await gate.close();
  });

  it('answers every caller of a failed call with GateUnavailable, and the other sales of the turn with their verdicts', async () => {
    const gate = await RedisGate.connect(server.url);
    const broken = snapshot();
    const fine = snapshot();
    await gate.load(broken);
    await gate.load(fine);
    const admin = new Redis(server.url);
    // A meta key of the wrong type: the script fails at its first command, for the whole batch.
    await admin.del(`gate:{${broken.saleId}}:meta`);
    await admin.set(`gate:{${broken.saleId}}:meta`, 'not a hash');
    const outcomes = await settlesWithin(
      'every admit of the turn',
      Promise.allSettled([
        gate.admit(admitOf(broken.saleId, 'u1', 'r1', broken.startsAt + 1)),
        gate.admit(admitOf(fine.saleId, 'u1', 'r1', fine.startsAt + 1)),
        gate.admit(admitOf(broken.saleId, 'u2', 'r2', broken.startsAt + 1)),
        gate.admit(admitOf(broken.saleId, 'u3', 'r3', broken.startsAt + 1)),
      ]),
    );
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).constructor.name : o.value.kind))).toEqual(['GateUnavailable', 'admitted', 'GateUnavailable', 'GateUnavailable']);
    await gate.close();
    // A closed connection: the call cannot be sent, and every caller hears so.
    const closed = await settlesWithin(
      'every admit on a closed gate',
      Promise.allSettled(Array.from({ length: 3 }, (_, i) => gate.admit(admitOf(fine.saleId, `u${i}`, `c${i}`, fine.startsAt + 1)))),
    );
    expect(closed.map((o) => o.status === 'rejected' && o.reason instanceof GateUnavailable)).toEqual([true, true, true]);
    await admin.quit();
  });

  it('recovers from NOSCRIPT after a Redis restart: the batch of the turn is run as EVAL, each caller answered', async () => {
    const gate = await RedisGate.connect(server.url);
    const before = snapshot();
    await gate.load(before);
    await gate.admit(admitOf(before.saleId, 'u0', 'r0', before.startsAt + 1)); // the sha is cached, and used
    await server.restart(); // empty: no data, no scripts
    await eventually('the gate reconnected', async () => (await gate.inspect(before.saleId).then(() => true, () => false)));
    const s = snapshot({ available: [1, 1], perUserLimit: 1 });
    await gate.load(s); // MULTI: the script cache stays empty
    const verdicts = await Promise.all([
      gate.admit({ ...admitOf(s.saleId, 'u1', 'r1', s.startsAt + 1), startShard: 1 }),
      gate.admit(admitOf(s.saleId, 'u1', 'r2', s.startsAt + 1)),
      gate.admit(admitOf(s.saleId, 'u2', 'r3', s.startsAt + 1)),
      gate.admit(admitOf(s.saleId, 'u3', 'r4', s.startsAt + 1)),
      gate.admit(admitOf(before.saleId, 'u1', 'r1', before.startsAt + 1)),
    ]);
    expect(verdicts).toEqual([
      { kind: 'admitted', shard: 1 },
      { kind: 'refused', code: 'LIMIT_EXCEEDED' },
      { kind: 'admitted', shard: 0 },
      { kind: 'refused', code: 'SOLD_OUT' },
      { kind: 'not-loaded' },
    ]);
    await gate.close();
  });

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
