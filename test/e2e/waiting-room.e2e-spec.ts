import { deriveKey, PurchaseTokens } from '@flash/access';
import { eventually } from '../support/eventually';
import { RedisServer } from '../support/redis-server';
import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';
import { roomChecks } from './support/waiting-room-checks';

/**
 * The waiting room (issue #26) against the built server: a fair line, paced admission measured from the server's
 * own admission timestamps, SOLD_OUT for everyone still waiting once the stock is gone, and a purchase path that
 * only admitted buyers get through. ACCESS_LIMITS=off: the crowd comes from one address here; WAITING_ROOM_ADAPTIVE
 * =off keeps the rate at the configured one on a loaded machine (the rate rule has its own unit test).
 */

/** The suite, on a server started with `env()` besides the settings above. */
const waitingRoomSuite = (env: () => Record<string, string>): void => {
  let server: ServerProcess;
  let client: ApiClient;
  const checks = roomChecks({ replicas: () => [client] });

  beforeAll(async () => {
    server = new ServerProcess({ label: 'waiting-room', env: { ACCESS_LIMITS: 'off', WAITING_ROOM_ADAPTIVE: 'off', ...env() } });
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 64);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('admits 2,000 users who join in random order strictly in ticket order, each once, at admitPerSecond', () => checks.admitsInTicketOrderAtTheRate(), 300_000);

  it('sells exactly its stock to admitted buyers only, then answers SOLD_OUT to everyone still waiting', () => checks.sellsItsStockToAdmittedBuyersOnly(), 300_000);

  it('keeps one ticket per user, shows it to its owner only, and takes no token that skipped the line', async () => {
    const saleId = await checks.createSale({ totalStock: 10, shards: 1, waitingRoom: { enabled: true, admitPerSecond: 1, tokenTtlMs: 60_000 } });
    const access = (saleId: string, userId: string) => checks.access(client, saleId, userId);
    const poll = (saleId: string, userId: string, ticket: string) => checks.poll(client, saleId, userId, ticket);
    const reserve = (saleId: string, userId: string, purchaseToken: string) => checks.reserve(client, saleId, userId, purchaseToken);
    // Three ahead in line at one admission a second: the owner is still waiting when it asks again, however slow the
    // machine (alone in line it could be admitted between its two requests, and rightly get a token the second time).
    for (const ahead of ['ahead-1', 'ahead-2', 'ahead-3']) expect((await access(saleId, ahead)).status).toBe(202);
    const first = await access(saleId, 'owner');
    const again = await access(saleId, 'owner');
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ queueTicket: expect.any(String), position: expect.any(Number), estimatedWaitMs: expect.any(Number) });
    expect(again.body.queueTicket).toBe(first.body.queueTicket);
    const ticket = first.body.queueTicket as string;

    for (const [user, asked] of [
      ['someone-else', ticket],
      ['owner', 'not-a-ticket'],
      ['owner', `${ticket.slice(0, ticket.indexOf('.'))}.forged`],
      ['owner', `zz${ticket}`],
      ['owner', '..'],
    ] as const) {
      const res = await poll(saleId, user, asked);
      expect({ user, asked, status: res.status, code: res.body?.error?.code }).toEqual({ user, asked, status: 404, code: 'NOT_FOUND' });
    }

    // A token made with the server's own key, but not through admission, is refused on a room-on sale.
    const direct = new PurchaseTokens(deriveKey(server.jwtSecret, 'purchase-token')).issue('owner', saleId, Date.now());
    const bot = await reserve(saleId, 'owner', direct.purchaseToken);
    expect({ status: bot.status, code: bot.body.error.code }).toEqual({ status: 403, code: 'INVALID_PURCHASE_TOKEN' });

    await eventually('the owner to be admitted', async () => (await poll(saleId, 'owner', ticket)).body.purchaseToken !== undefined, { timeoutMs: 30_000, intervalMs: 200 });
    const admitted = await poll(saleId, 'owner', ticket);
    expect((await reserve(saleId, 'owner', admitted.body.purchaseToken as string)).status).toBe(201);
    // Someone else's admitted token buys nothing.
    expect((await reserve(saleId, 'thief', admitted.body.purchaseToken as string)).body.error.code).toBe('INVALID_PURCHASE_TOKEN');
  }, 120_000);
};

describe('the waiting room (in process)', () => {
  waitingRoomSuite(() => ({}));
});

// One api process on Redis: the line, the pace and the tickets live in Redis (two api processes sharing it and one
// PostgreSQL store: waiting-room-replicas.e2e-spec.ts).
RedisServer.describeWithRedis('the waiting room (REDIS_URL)', () => {
  const redis = new RedisServer();
  beforeAll(() => redis.start());
  afterAll(() => redis.stop());
  waitingRoomSuite(() => ({ REDIS_URL: redis.url }));
});

describe('the waiting room with the access limits on', () => {
  const server = new ServerProcess({ label: 'waiting-room-limits', env: { ACCESS_LIMITS: 'on', WAITING_ROOM_TICKETS_PER_IP: '3' } });
  let client: ApiClient;

  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 4);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('hands one address no more than WAITING_ROOM_TICKETS_PER_IP new tickets per sale', async () => {
    const admin = client.token('limits-admin', ['admin']);
    const sale = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ waitingRoom: { enabled: true, admitPerSecond: 1, tokenTtlMs: 60_000 } }) });
    const saleId = sale.body.id as string;
    const statuses: number[] = [];
    for (const user of ['farm-1', 'farm-2', 'farm-1', 'farm-3', 'farm-4']) {
      const res = await client.request('GET', `/sales/${saleId}/access`, { token: client.token(user) });
      statuses.push(res.status);
      if (res.status === 429) expect(res.body.error.code).toBe('RATE_LIMITED');
    }
    // farm-1 asking again is the same ticket (or its admission), not a new one; farm-4 is the fourth new ticket.
    expect(statuses[3]).not.toBe(429);
    expect(statuses[4]).toBe(429);
    expect(statuses.slice(0, 4).every((status) => status === 200 || status === 202)).toBe(true);
  });
});
