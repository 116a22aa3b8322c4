import { RedisServer } from '../../../../test/support/redis-server';
import { admissionQueueContract, drain, expectFairAdmission, joinOf, shuffled } from '../../test/admission-queue.contract';
import { RedisAdmissionQueue } from './redis-admission-queue';

RedisServer.describeWithRedis('Redis admission queue (own redis-server)', () => {
  const server = new RedisServer();
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  admissionQueueContract('redis', async () => RedisAdmissionQueue.connect(server.url));

  // Issue #22 keeps several api processes off one store for now: two admission instances on one Redis stand in for
  // two api replicas, which share nothing else of the waiting room.
  it('two instances on one Redis admit 2,000 users in ticket order, each once, at the pace set between them', async () => {
    const replicas = [RedisAdmissionQueue.connect(server.url), RedisAdmissionQueue.connect(server.url)];
    const sale = `sale-${Math.random().toString(36).slice(2)}`;
    const T0 = 1_800_000_000_000;
    const users = shuffled(Array.from({ length: 2000 }, (_, i) => `user-${i}`), 11);
    await Promise.all(users.map((user, i) => replicas[i % 2]!.join(joinOf(sale, user, T0 + Math.floor(i / 2)))));
    // Both pumps run, interleaved, each ticking every 20 ms (so the line sees a call every 10 ms).
    const admitted = await drain(replicas, sale, T0, 1000 / 200, 10);
    expectFairAdmission(admitted, 2000, 200);
    for (const replica of replicas) await replica.close();
  });
});
