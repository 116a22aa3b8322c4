import { describeWithPostgres, TestDatabase } from '../../libs/event-store/test/postgres-support';
import { RedisServer } from '../support/redis-server';
import { ApiClient } from './support/client';
import { ServerProcess } from './support/server';
import { roomChecks } from './support/waiting-room-checks';

/**
 * The waiting room's two Must-show checks of issue #26 with two api processes on one PostgreSQL store and one Redis:
 * the crowd split across both, the line, its pace and its tickets shared through Redis, the admissions and purchase
 * refusals counted on both servers and added up. WAITING_ROOM_ADAPTIVE=off keeps the rate at the configured one on a
 * loaded machine (the rate rule has its own unit test); ACCESS_LIMITS=off: the crowd comes from one address here.
 */
describeWithPostgres('the waiting room on two api replicas sharing Redis', () => {
  const database = new TestDatabase();
  const redis = new RedisServer();
  let replicas: ServerProcess[] = [];
  let clients: ApiClient[] = [];
  const checks = roomChecks({ replicas: () => clients });

  beforeAll(async () => {
    await database.create();
    await redis.start();
    const secret = 'q'.repeat(40);
    const env = { EVENTSTORE_URL: database.url, REDIS_URL: redis.url, ACCESS_LIMITS: 'off', WAITING_ROOM_ADAPTIVE: 'off', JWT_SECRET: secret, PAYMENT_WEBHOOK_SECRET: 'w'.repeat(40) };
    replicas = [new ServerProcess({ label: 'room-replica-a', env }), new ServerProcess({ label: 'room-replica-b', env })];
    for (const replica of replicas) await replica.start();
    clients = replicas.map((r) => new ApiClient(r.baseUrl, secret, 32));
  });

  afterAll(async () => {
    for (const c of clients) await c.destroy();
    for (const r of replicas) {
      await r.stop();
      r.cleanup();
    }
    await redis.stop();
    await database.drop();
  });

  it('admits 2,000 users who join in random order across both, strictly in ticket order, each once, at admitPerSecond', () => checks.admitsInTicketOrderAtTheRate(), 300_000);

  it('sells exactly its stock to admitted buyers only through both, then answers SOLD_OUT to everyone still waiting', () => checks.sellsItsStockToAdmittedBuyersOnly(), 300_000);
});
