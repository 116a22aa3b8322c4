import { ApiClient, openSale, signedWebhook } from './support/client';
import { ServerProcess } from './support/server';

const SWEEP_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A running server and the calls the saga scenarios need. */
const harness = (env: Record<string, string> = {}) => {
  const server = new ServerProcess({ env: { SWEEP_INTERVAL_MS: String(SWEEP_MS), ...env } });
  const h = {
    server,
    client: undefined as unknown as ApiClient,
    admin: '',
    async start() {
      await server.start();
      h.client = new ApiClient(server.baseUrl, server.jwtSecret, 64);
      h.admin = h.client.token('admin-1', ['admin']);
    },
    async restart(kill = false) {
      await h.client.destroy();
      if (kill) await server.kill();
      else expect(await server.stop('SIGTERM')).toBe(0);
      await server.start();
      h.client = new ApiClient(server.baseUrl, server.jwtSecret, 64);
    },
    async stop() {
      await h.client.destroy();
      await server.stop();
      server.cleanup();
    },
    async sale(overrides: Record<string, unknown>) {
      const res = await h.client.request('POST', '/admin/sales', { token: h.admin, body: openSale(overrides) });
      expect(res.status).toBe(201);
      return res.body.id as string;
    },
    async reserve(saleId: string, userId: string, key = `key-${userId}-0001`) {
      const token = h.client.token(userId);
      const access = await h.client.request('GET', `/sales/${saleId}/access`, { token });
      return h.client.request('POST', `/sales/${saleId}/reservations`, {
        token,
        headers: { 'idempotency-key': key },
        body: { quantity: 1, purchaseToken: access.body.purchaseToken },
      });
    },
    pay(orderId: string, amount: number, paymentId = `pay-${orderId}`) {
      const { rawBody, headers } = signedWebhook(server.webhookSecret, { paymentId, orderId, amount, status: 'succeeded' });
      return h.client.request('POST', '/payments/webhook', { rawBody, headers });
    },
    async view(saleId: string) {
      return (await h.client.request('GET', `/admin/sales/${saleId}`, { token: h.admin })).body;
    },
    async order(orderId: string) {
      return (await h.client.request('GET', `/orders/${orderId}`, { token: h.admin })).body;
    },
    async head(): Promise<number> {
      return (await h.client.request('GET', '/health/ready')).body.store.head;
    },
    /** Polls until `check` holds or the deadline passes; returns its last value. */
    async eventually<T>(probe: () => Promise<T>, check: (t: T) => boolean, timeoutMs = 10_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      let last = await probe();
      while (!check(last) && Date.now() < deadline) {
        await sleep(50);
        last = await probe();
      }
      return last;
    },
  };
  return h;
};

/** paid + live holds + available is the whole stock, whatever happened. */
const expectConserved = (view: any, stock: number) => {
  const { reserved, paid, released, available } = view.totals;
  const liveHolds = reserved - paid - released;
  expect(paid + liveHolds + available).toBe(stock);
  expect(liveHolds).toBeGreaterThanOrEqual(0);
};

describe('sagas: expiry, payments, cancel (reserve mode)', () => {
  const h = harness();
  beforeAll(() => h.start());
  afterAll(() => h.stop());

  it('expires the unpaid holds after ttl + sweep, puts their stock back, and sells it to a second wave', async () => {
    const saleId = await h.sale({ totalStock: 100, shards: 4, perUserLimit: 1, holdTtlMs: 2000 });
    const first = await Promise.all(Array.from({ length: 100 }, (_, i) => h.reserve(saleId, `wave1-${i}`)));
    expect(first.every((r) => r.status === 201)).toBe(true);
    expectConserved(await h.view(saleId), 100);

    const payers = first.slice(0, 40);
    const payments = await Promise.all(payers.map((r) => h.pay(r.body.orderId, 1999)));
    expect(payments.map((p) => p.status)).toEqual(Array(40).fill(200));
    expect(payments.every((p) => p.body.status === 'paid')).toBe(true);
    let view = await h.view(saleId);
    expect(view.totals).toMatchObject({ reserved: 100, paid: 40, released: 0, available: 0 });
    expectConserved(view, 100);

    view = await h.eventually(
      () => h.view(saleId),
      (v) => v.totals.available === 60,
      2000 + 10 * SWEEP_MS + 5000,
    );
    expect(view.totals).toMatchObject({ reserved: 100, paid: 40, released: 60, available: 60 });
    expectConserved(view, 100);
    const statuses = await Promise.all(first.map((r) => h.order(r.body.orderId)));
    expect(statuses.filter((o) => o.status === 'paid')).toHaveLength(40);
    expect(statuses.filter((o) => o.status === 'expired')).toHaveLength(60);

    // Second wave: half are first-wave buyers whose quota came back with their expired hold, half are new.
    const comeback = first.slice(40, 70).map((r) => r.body.userId as string);
    await h.eventually(
      () => h.reserve(saleId, comeback[0]!, 'comeback-probe-0'),
      (r) => r.status === 201,
      5000,
    );
    await sleep(3 * SWEEP_MS); // the other releases of that sweep land too
    const second = await Promise.all([
      ...comeback.slice(1).map((u) => h.reserve(saleId, u, `comeback-${u}`)),
      ...Array.from({ length: 40 }, (_, i) => h.reserve(saleId, `wave2-${i}`)),
    ]);
    expect(second.filter((r) => r.status === 201)).toHaveLength(59);
    for (const r of second.filter((x) => x.status !== 201)) expect(r.body.error.code).toBe('SOLD_OUT');
    view = await h.view(saleId);
    expect(view.totals).toMatchObject({ reserved: 160, paid: 40, released: 60, available: 0 });
    expectConserved(view, 100);
  });

  it('answers a payment after expiry with 409 ORDER_NOT_PAYABLE and records a refund; a webhook twice has one effect', async () => {
    const saleId = await h.sale({ totalStock: 5, shards: 1, perUserLimit: 1, holdTtlMs: 1000 });
    const late = await h.reserve(saleId, 'late-payer');
    const prompt = await h.reserve(saleId, 'prompt-payer');

    const firstPay = await h.pay(prompt.body.orderId, 1999, 'pay-prompt');
    const again = await h.pay(prompt.body.orderId, 1999, 'pay-prompt');
    expect(firstPay.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(firstPay.body);
    expect((await h.view(saleId)).totals.paid).toBe(1);

    await h.eventually(
      () => h.order(late.body.orderId),
      (o) => o.status === 'expired',
      1000 + 10 * SWEEP_MS + 5000,
    );
    const tooLate = await h.pay(late.body.orderId, 1999, 'pay-late');
    expect(tooLate.status).toBe(409);
    expect(tooLate.body.error.code).toBe('ORDER_NOT_PAYABLE');
    expect((await h.order(late.body.orderId)).status).toBe('refund_pending');
    const tooLateAgain = await h.pay(late.body.orderId, 1999, 'pay-late');
    expect(tooLateAgain.status).toBe(409);
    const view = await h.view(saleId);
    expect(view.totals).toMatchObject({ paid: 1, released: 1 });
  });

  it('refuses a webhook with a bad or missing signature and writes nothing', async () => {
    const saleId = await h.sale({ totalStock: 5, shards: 1 });
    const order = await h.reserve(saleId, 'sig-buyer');
    const before = await h.head();
    const body = JSON.stringify({ paymentId: 'p-forged', orderId: order.body.orderId, amount: 1999, status: 'succeeded' });
    const forged = await h.client.request('POST', '/payments/webhook', { rawBody: body, headers: { 'x-signature': 'ab'.repeat(32) } });
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('UNAUTHENTICATED');
    const missing = await h.client.request('POST', '/payments/webhook', { rawBody: body });
    expect(missing.status).toBe(401);
    // Signed, then tampered with: the signature covers the exact bytes.
    const { headers } = signedWebhook(h.server.webhookSecret, { paymentId: 'p-x', orderId: order.body.orderId, amount: 1999, status: 'succeeded' });
    const tampered = await h.client.request('POST', '/payments/webhook', { rawBody: body.replace('1999', '1'), headers });
    expect(tampered.status).toBe(401);
    expect(await h.head()).toBe(before);
    expect((await h.order(order.body.orderId)).status).toBe('reserved');
  });

  it('lets the owner cancel a hold: stock back at once, quota back soon; nobody else can, and a paid order cannot be', async () => {
    const saleId = await h.sale({ totalStock: 2, shards: 1, perUserLimit: 1 });
    const mine = await h.reserve(saleId, 'canceller');
    const paid = await h.reserve(saleId, 'keeper');
    await h.pay(paid.body.orderId, 1999);
    const path = `/orders/${mine.body.orderId}/cancel`;
    expect((await h.client.request('POST', path, { token: h.client.token('intruder') })).status).toBe(404);
    const cancelled = await h.client.request('POST', path, { token: h.client.token('canceller') });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ orderId: mine.body.orderId, status: 'cancelled' });
    expect((await h.view(saleId)).totals).toMatchObject({ released: 1, available: 1 });
    const paidCancel = await h.client.request('POST', `/orders/${paid.body.orderId}/cancel`, { token: h.client.token('keeper') });
    expect(paidCancel.status).toBe(409);
    const rebuy = await h.eventually(
      () => h.reserve(saleId, 'canceller', 'canceller-again-1'),
      (r) => r.status === 201,
      5000,
    );
    expect(rebuy.status).toBe(201);
  });
});

describe('sagas survive SIGKILL: no expiry lost, none done twice', () => {
  const h = harness();
  beforeAll(() => h.start());
  afterAll(() => h.stop());

  it('expires all 50 pending holds on time after a kill and restart', async () => {
    const HOLD_MS = 3000;
    const saleId = await h.sale({ totalStock: 80, shards: 4, perUserLimit: 1, holdTtlMs: HOLD_MS });
    const holds = await Promise.all(Array.from({ length: 50 }, (_, i) => h.reserve(saleId, `held-${i}`)));
    expect(holds.every((r) => r.status === 201)).toBe(true);
    await h.restart(true);

    const view = await h.eventually(
      () => h.view(saleId),
      (v) => v.totals.released === 50,
      HOLD_MS + 10 * SWEEP_MS + 5000,
    );
    expect(view.totals).toMatchObject({ reserved: 50, released: 50, available: 80 });
    for (const r of holds) {
      const order = await h.order(r.body.orderId);
      expect(order.status).toBe('expired');
      const late = Date.parse(order.endedAt) - Date.parse(order.expiresAt);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThanOrEqual(SWEEP_MS + 500);
    }
    // Stays at 50 released: a second pass of the sweeper after another restart finds nothing to do.
    await h.restart(false);
    await sleep(3 * SWEEP_MS);
    expect((await h.view(saleId)).totals.released).toBe(50);
  });
});

describe('inventory modes end to end', () => {
  const h = harness();
  beforeAll(() => h.start());
  afterAll(() => h.stop());

  it('on-order: stock is taken at order time and never expires; payment and cancel work', async () => {
    const saleId = await h.sale({ totalStock: 3, shards: 1, perUserLimit: 1, inventoryMode: 'on-order', holdTtlMs: undefined });
    const orders = await Promise.all(['oo-1', 'oo-2', 'oo-3', 'oo-4'].map((u) => h.reserve(saleId, u)));
    expect(orders.map((o) => o.status).sort()).toEqual([201, 201, 201, 409]);
    const won = orders.filter((o) => o.status === 201);
    for (const o of won) {
      expect(o.body.status).toBe('placed');
      expect(o.body.expiresAt).toBeUndefined();
    }
    expect((await h.pay(won[0]!.body.orderId, 1999)).body.status).toBe('paid');
    const cancel = await h.client.request('POST', `/orders/${won[1]!.body.orderId}/cancel`, { token: h.client.token(won[1]!.body.userId) });
    expect(cancel.body.status).toBe('cancelled');
    await sleep(4 * SWEEP_MS);
    const view = await h.view(saleId);
    expect(view.totals).toMatchObject({ reserved: 3, paid: 1, released: 1, available: 1 });
    expect((await h.order(won[2]!.body.orderId)).status).toBe('placed');
  });

  it('on-payment: orders take no stock; payment takes it; a payment with no stock left is refunded', async () => {
    const saleId = await h.sale({ totalStock: 2, shards: 1, perUserLimit: 1, inventoryMode: 'on-payment' });
    const orders = await Promise.all(['op-1', 'op-2', 'op-3'].map((u) => h.reserve(saleId, u)));
    // Orders are accepted while stock is available; none of them takes it.
    expect(orders.every((o) => o.status === 201 && o.body.status === 'placed')).toBe(true);
    expect((await h.view(saleId)).totals).toMatchObject({ reserved: 0, available: 2 });
    expect((await h.pay(orders[0]!.body.orderId, 1999)).body.status).toBe('paid');
    expect((await h.pay(orders[1]!.body.orderId, 1999)).body.status).toBe('paid');
    const third = await h.pay(orders[2]!.body.orderId, 1999);
    expect(third.status).toBe(409);
    expect(third.body.error.code).toBe('ORDER_NOT_PAYABLE');
    expect((await h.order(orders[2]!.body.orderId)).status).toBe('refund_pending');
    expect((await h.view(saleId)).totals).toMatchObject({ reserved: 2, paid: 2, available: 0 });
  });
});
