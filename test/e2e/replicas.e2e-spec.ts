import { describeWithPostgres } from '../../libs/event-store/test/postgres-support';
import { eventually } from '../support/eventually';
import { parsePrometheusText } from '../support/prometheus-text';
import { ApiClient, ApiResponse, openSale } from './support/client';
import { replicaSetForSuite } from './support/replica-set';

/**
 * Two api processes on one PostgreSQL event store and one Redis (API.md "Several processes"): what one replica
 * answered, the other answers too — the order right after its 201, the Idempotency-Key's replay — and the stock
 * sold through both never exceeds the sale's. Each shard is written by one replica at a time, under a lease in Redis
 * (SHARD_LEASE_MS): the replicas split a sale's stocked shards between them, the store's optimistic concurrency the guard.
 */

/** The shards of a sale a replica owns now, by its own /metrics. */
const ownedShards = async (client: ApiClient, saleId: string): Promise<number[]> => {
  const res = await client.request('GET', '/metrics');
  return parsePrometheusText(String(res.body))
    .filter((s) => s.name === 'shard_owned' && s.labels.sale === saleId && s.value === 1)
    .map((s) => Number(s.labels.shard))
    .sort((x, y) => x - y);
};

describeWithPostgres('two api replicas on one store', () => {
  const set = replicaSetForSuite({ labels: ['replica-a', 'replica-b'], env: { ACCESS_LIMITS: 'off', SHARD_LEASE_MS: '900' }, jwtSecret: 'r'.repeat(40), concurrency: 16 });

  it('finds an order on the other replica right after its 201, replays its key there, and sells no more than the stock', async () => {
    const [a, b] = set.clients as [ApiClient, ApiClient];
    const admin = a.token('admin-1', ['admin']);
    const STOCK = 40;
    const sale = await a.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: STOCK, shards: 4, perUserLimit: 1 }) });
    expect(sale.status).toBe(201);
    const saleId = sale.body.id as string;
    await eventually('the other replica knows the sale', async () => (await b.request('GET', `/sales/${saleId}`)).status === 200);

    const outcomes: Array<{ buyer: string; first: ApiResponse; found: ApiResponse; replay: ApiResponse }> = [];
    for (let i = 0; i < 60; i++) {
      const buyer = `buyer-${i}`;
      const [here, there] = i % 2 === 0 ? [a, b] : [b, a];
      const token = here.token(buyer);
      const access = await here.request('GET', `/sales/${saleId}/access`, { token });
      if (access.status !== 200) {
        // Once sold out, access itself may answer SOLD_OUT (API.md).
        outcomes.push({ buyer, first: access, found: access, replay: access });
        continue;
      }
      const request = { token, headers: { 'idempotency-key': `replica-key-${i}` }, body: { quantity: 1, purchaseToken: access.body.purchaseToken } };
      const first = await here.request('POST', `/sales/${saleId}/reservations`, request);
      if (first.status !== 201) {
        outcomes.push({ buyer, first, found: first, replay: first });
        continue;
      }
      // At once, on the other replica: the order, and the same key answered as a replay.
      const found = await there.request('GET', `/orders/${first.body.orderId as string}`, { token });
      const replay = await there.request('POST', `/sales/${saleId}/reservations`, request);
      outcomes.push({ buyer, first, found, replay });
    }
    const sold = outcomes.filter((o) => o.first.status === 201);
    expect(sold).toHaveLength(STOCK);
    expect(outcomes.filter((o) => o.first.status !== 201).map((o) => o.first.body?.error?.code)).toEqual(Array(60 - STOCK).fill('SOLD_OUT'));
    expect(sold.filter((o) => o.found.status !== 200).map((o) => ({ buyer: o.buyer, status: o.found.status, body: o.found.body }))).toEqual([]);
    expect(sold.filter((o) => o.found.body.orderId !== o.first.body.orderId).map((o) => o.buyer)).toEqual([]);
    expect(sold.filter((o) => o.replay.status !== 200 || JSON.stringify(o.replay.body) !== JSON.stringify(o.first.body)).map((o) => ({ buyer: o.buyer, replay: o.replay.status, body: o.replay.body }))).toEqual([]);

    // The truth, read by either replica from the store: exactly the stock reserved.
    const view = await b.request('GET', `/admin/sales/${saleId}`, { token: admin });
    expect(view.body.totals).toMatchObject({ reserved: STOCK, available: 0 });
  });

  it('splits a sale\'s shards between the replicas under leases (each owns some, none both) and still sells exactly the stock', async () => {
    const [a, b] = set.clients as [ApiClient, ApiClient];
    const admin = a.token('admin-1', ['admin']);
    const STOCK = 160;
    const SHARDS = 8;
    const sale = await a.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: STOCK, shards: SHARDS, perUserLimit: 1 }) });
    expect(sale.status).toBe(201);
    const saleId = sale.body.id as string;
    await eventually('the other replica knows the sale', async () => (await b.request('GET', `/sales/${saleId}`)).status === 200);

    const buy = async (client: ApiClient, buyer: string): Promise<number> => {
      const token = client.token(buyer);
      const access = await client.request('GET', `/sales/${saleId}/access`, { token });
      if (access.status !== 200) return access.status;
      const res = await client.request('POST', `/sales/${saleId}/reservations`, {
        token,
        headers: { 'idempotency-key': `own-${buyer}` },
        body: { quantity: 1, purchaseToken: access.body.purchaseToken },
      });
      return res.status;
    };
    const statuses: number[] = [];
    // A first purchase on each: both serve the sale now, and deal its shards between them.
    statuses.push(await buy(a, 'early-a'), await buy(b, 'early-b'));
    let split: number[][] = [];
    await eventually(
      'each replica owns shards of the sale, none owned by both, all owned',
      async () => {
        split = await Promise.all([ownedShards(a, saleId), ownedShards(b, saleId)]);
        const [ofA, ofB] = split as [number[], number[]];
        return ofA.length > 0 && ofB.length > 0 && ofA.every((s) => !ofB.includes(s)) && ofA.length + ofB.length === SHARDS;
      },
      { timeoutMs: 15_000, seen: () => split },
    );

    // The rest of the crowd, half on each replica, more buyers than stock: the tail moves shards as they run dry.
    const buyers = Array.from({ length: STOCK + 40 }, (_, i) => `crowd-${i}`);
    statuses.push(...(await Promise.all(buyers.map((buyer, i) => buy(i % 2 === 0 ? a : b, buyer)))));
    expect(statuses.filter((s) => s === 201)).toHaveLength(STOCK);
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    const view = await b.request('GET', `/admin/sales/${saleId}`, { token: admin });
    expect(view.body.totals).toMatchObject({ reserved: STOCK, available: 0 });
  });
});

describeWithPostgres('two api replicas and their workers on one store (WORKER=external)', () => {
  // The holds are expired by a worker process, not by either replica: neither replica writes the other's shards.
  const set = replicaSetForSuite({
    labels: ['replica-c', 'replica-d'],
    env: { ACCESS_LIMITS: 'off', SHARD_LEASE_MS: '900', WORKER: 'external', SWEEP_INTERVAL_MS: '200' },
    jwtSecret: 'r'.repeat(40),
    concurrency: 16,
  });

  it("replays a key on the replica that never read the order's shard, after the hold expired: the same answer as where it was placed", async () => {
    const [a, b] = set.clients as [ApiClient, ApiClient];
    const admin = a.token('admin-1', ['admin']);
    const sale = await a.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: 400, shards: 4, perUserLimit: 1, holdTtlMs: 1000 }) });
    expect(sale.status).toBe(201);
    const saleId = sale.body.id as string;
    const buy = async (client: ApiClient, buyer: string, key: string) => {
      const token = client.token(buyer);
      const access = await client.request('GET', `/sales/${saleId}/access`, { token });
      expect(access.status).toBe(200);
      return { token, request: { token, headers: { 'idempotency-key': key }, body: { quantity: 1, purchaseToken: access.body.purchaseToken } } };
    };
    // Each replica has loaded the sale's inventory (a purchase of its own), and both own shards of it. 100 units a
    // shard: the shard leases' deal has no reason to read a shard a few events behind (none can have emptied it).
    for (const [client, buyer] of [[b, 'expiry-b'], [a, 'expiry-a']] as const) {
      const early = await buy(client, buyer, `expiry-key-${buyer}`);
      expect((await client.request('POST', `/sales/${saleId}/reservations`, early.request)).status).toBe(201);
    }
    await eventually('both replicas own shards of the sale', async () => (await ownedShards(a, saleId)).length > 0 && (await ownedShards(b, saleId)).length > 0);
    const late = await buy(a, 'expiry-late', 'expiry-key-late');
    const first = await a.request('POST', `/sales/${saleId}/reservations`, late.request);
    expect(first.status).toBe(201);
    expect(await ownedShards(a, saleId)).toContain(first.body.shard);
    // The hold runs out unpaid; where it was placed, the key is answered with the order as it now stands.
    let there: ApiResponse | undefined;
    await eventually('the hold expired, its quota released, as a sees it', async () => {
      there = await a.request('POST', `/sales/${saleId}/reservations`, late.request);
      const order = await a.request('GET', `/orders/${first.body.orderId as string}`, { token: late.token });
      return there.status === 200 && order.body.status === 'expired';
    });
    // b, which owns other shards and never had a reason to read that one: the same answer, not SOLD_OUT.
    const replay = await b.request('POST', `/sales/${saleId}/reservations`, late.request);
    expect({ status: replay.status, body: replay.body }).toEqual({ status: 200, body: there?.body });
  });
});
