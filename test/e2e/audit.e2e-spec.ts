import { createHmac } from 'node:crypto';
import type { AuditVerdict, SaleCounts } from '../../apps/audit/src/audit-model';
import type { ReplayReport } from '../../apps/audit/src/commands/replay';
import { runAuditCli } from '../../apps/audit/test/run-audit-cli';
import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';

const PRICE = 1999;
const STOCK = 40;
const SHARDS = 4;
const PER_USER_LIMIT = 2;
const UNIT_FIELDS = ['allocated', 'reserved', 'paid', 'released', 'available'] as const;

/** The units GET /admin/sales/:id reports, per shard and in total, in the shape the audit reports them. */
const unitsOfView = (view: any) => ({
  totals: Object.fromEntries(UNIT_FIELDS.map((k) => [k, view.totals[k]])),
  shards: view.shards.map((s: any) => ({ shard: s.shard, ...Object.fromEntries(UNIT_FIELDS.map((k) => [k, s[k]])) })),
});

const unitsOfAudit = (sale: SaleCounts | undefined) => {
  if (!sale) throw new Error('the audit does not list the sale');
  return { totals: Object.fromEntries(UNIT_FIELDS.map((k) => [k, sale[k]])), shards: sale.shards };
};

describe('audit CLI beside a running server', () => {
  // A fast expiry sweep, so holds of a 1 s ttl end within the test.
  const server = new ServerProcess({ env: { ACCESS_LIMITS: 'off', SWEEP_INTERVAL_MS: '200' } });
  let client: ApiClient;
  let admin: string;

  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 64);
    admin = client.token('admin-1', ['admin']);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  const createSale = async (overrides: Record<string, unknown>): Promise<string> => {
    const res = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ price: PRICE, ...overrides }) });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  /** One purchase attempt per (user, key), all at once; a refused access (sold out) is that attempt's answer. */
  const reserveAll = async (saleId: string, attempts: Array<{ userId: string; key: string; quantity: number }>) =>
    Promise.all(
      attempts.map(async (a) => {
        const token = client.token(a.userId);
        const access = await client.request('GET', `/sales/${saleId}/access`, { token });
        if (access.status !== 200) return access;
        return client.request('POST', `/sales/${saleId}/reservations`, {
          token,
          headers: { 'idempotency-key': a.key },
          body: { quantity: a.quantity, purchaseToken: access.body.purchaseToken },
        });
      }),
    );

  const pay = async (orderId: string, amount: number, expectedStatus = 200) => {
    const rawBody = JSON.stringify({ paymentId: `pay-${orderId}`, orderId, amount, status: 'succeeded' });
    const signature = createHmac('sha256', server.webhookSecret).update(rawBody).digest('hex');
    const res = await client.request('POST', '/payments/webhook', { rawBody, headers: { 'content-type': 'application/json', 'x-signature': signature } });
    expect(res.status).toBe(expectedStatus);
  };

  const webhook = (payment: { paymentId: string; orderId: string; amount: number; status?: 'succeeded' | 'failed' }) => {
    const rawBody = JSON.stringify({ status: 'succeeded', ...payment });
    const signature = createHmac('sha256', server.webhookSecret).update(rawBody).digest('hex');
    return client.request('POST', '/payments/webhook', { rawBody, headers: { 'content-type': 'application/json', 'x-signature': signature } });
  };

  const adminView = async (saleId: string) => (await client.request('GET', `/admin/sales/${saleId}`, { token: admin })).body;
  const head = async (): Promise<number> => (await client.request('GET', '/health/ready')).body.details.store.head as number;

  /** GET /admin/sales/:id together with the store head it reflects: read until nothing was appended in between. */
  const viewAtHead = async (saleId: string) => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const before = await head();
      const view = await adminView(saleId);
      if ((await head()) === before) return { view, head: before };
    }
    throw new Error('the store kept growing while the view was read');
  };

  it('verifies the live store read-only with the numbers of GET /admin/sales/:id, and replays an earlier head exactly', async () => {
    const saleId = await createSale({ totalStock: STOCK, shards: SHARDS, perUserLimit: PER_USER_LIMIT });

    // Wave 1: 12 buyers take 1 or 2 units; a third of them pay.
    const wave1 = await reserveAll(
      saleId,
      Array.from({ length: 12 }, (_, i) => ({ userId: `early-${i}`, key: `early-key-${i}-0001`, quantity: 1 + (i % 2) })),
    );
    expect(wave1.every((r) => r.status === 201)).toBe(true);
    for (const r of wave1.filter((_, i) => i % 3 === 0)) await pay(r.body.orderId, r.body.quantity * PRICE);
    const atWave1 = await viewAtHead(saleId);
    expect(atWave1.view.totals).toMatchObject({ reserved: 18, paid: 6 });

    // Wave 2: early buyers above their limit, then more demand than the 22 units left, and a second sale.
    const otherSaleId = await createSale({ totalStock: 10, shards: 2, perUserLimit: 1 });
    const overLimit = await reserveAll(saleId, Array.from({ length: 6 }, (_, i) => ({ userId: `early-${i}`, key: `early-key-${i}-0002`, quantity: 2 })));
    expect(overLimit.map((r) => r.body.error?.code)).toEqual(Array(6).fill('LIMIT_EXCEEDED'));
    const flood = await reserveAll(saleId, Array.from({ length: 30 }, (_, i) => ({ userId: `late-${i}`, key: `late-key-${i}-0001`, quantity: 1 })));
    expect(flood.filter((r) => r.status === 201)).toHaveLength(STOCK - 18);
    expect(new Set(flood.filter((r) => r.status !== 201).map((r) => r.body.error.code))).toEqual(new Set(['SOLD_OUT']));
    await reserveAll(otherSaleId, [{ userId: 'other-1', key: 'other-key-0001', quantity: 1 }]);

    // verify while the server keeps running: read-only, and the same units the API reports.
    const verified = await runAuditCli<AuditVerdict>(['verify', '--data-dir', server.dataDir]);
    expect(verified.stderr).toBe('');
    expect(verified.exitCode).toBe(0);
    expect(verified.report.ok).toBe(true);
    expect(verified.report.position).toBeGreaterThan(atWave1.head);
    const sold = verified.report.sales.find((s) => s.saleId === saleId);
    expect(unitsOfAudit(sold)).toEqual(unitsOfView(await adminView(saleId)));
    expect(sold?.available).toBe(0);
    expect(unitsOfAudit(verified.report.sales.find((s) => s.saleId === otherSaleId))).toEqual(unitsOfView(await adminView(otherSaleId)));

    const onlyOne = await runAuditCli<AuditVerdict>(['verify', '--data-dir', server.dataDir, '--sale', saleId]);
    expect(onlyOne.exitCode).toBe(0);
    expect(onlyOne.report.sales.map((s) => s.saleId)).toEqual([saleId]);

    // replay to the head recorded after wave 1: exactly what the API said then; the second sale did not exist yet.
    const replayed = await runAuditCli<ReplayReport>(['replay', '--data-dir', server.dataDir, '--until', String(atWave1.head)]);
    expect(replayed.exitCode).toBe(0);
    expect(replayed.report.position).toBe(atWave1.head);
    expect(unitsOfAudit(replayed.report.sales.find((s) => s.saleId === saleId))).toEqual(unitsOfView(atWave1.view));
    expect(replayed.report.sales.some((s) => s.saleId === otherSaleId)).toBe(false);

    // The server never noticed: it still answers, and its log only grew by what buyers did.
    expect((await client.request('GET', '/health/ready')).status).toBe(200);
  });

  it('finds no violation in what the sagas decide: a cancel, a payment in time, expiries, and a late payment refunded', async () => {
    const saleId = await createSale({ totalStock: 6, shards: 2, perUserLimit: 1, holdTtlMs: 1500 });
    const orders = (await reserveAll(saleId, Array.from({ length: 5 }, (_, i) => ({ userId: `short-${i}`, key: `short-key-${i}-0001`, quantity: 1 })))).map(
      (r) => r.body.orderId as string,
    );
    const [cancelled, paid, late] = orders;
    expect((await client.request('POST', `/orders/${cancelled}/cancel`, { token: client.token('short-0') })).status).toBe(200);
    await pay(paid!, PRICE);

    // The three unpaid holds expire; the cancelled one was released at once.
    const deadline = Date.now() + 15_000;
    while ((await adminView(saleId)).totals.released < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await pay(late!, PRICE, 409);

    const verified = await runAuditCli<AuditVerdict>(['verify', '--data-dir', server.dataDir, '--sale', saleId]);
    expect(verified.report.sales[0]?.violations).toEqual([]);
    expect(verified.exitCode).toBe(0);
    expect(verified.report.sales[0]).toMatchObject({ paid: 1, released: 4, expired: 3, cancelled: 1 });
    expect(unitsOfAudit(verified.report.sales[0])).toEqual(unitsOfView(await adminView(saleId)));
  });

  it('lets a paymentId pay one order only (another order stays unpaid, verify exits 0) and records for refund the money an order cannot take', async () => {
    const saleA = await createSale({ totalStock: 4, shards: 2, perUserLimit: 1 });
    const saleB = await createSale({ totalStock: 2, shards: 1, perUserLimit: 1 });
    const inA = await reserveAll(saleA, ['pb', 'pc', 'pd'].map((userId) => ({ userId, key: `${userId}-key-0001`, quantity: 1 })));
    const inB = await reserveAll(saleB, [{ userId: 'pe', key: 'pe-key-0001', quantity: 1 }]);
    const [b, c, d, e] = [...inA, ...inB].map((r) => {
      expect(r.status).toBe(201);
      return r.body.orderId as string;
    }) as [string, string, string, string];

    const first = await webhook({ paymentId: 'pay-reused', orderId: b, amount: PRICE });
    expect(first).toMatchObject({ status: 200, body: { orderId: b, status: 'paid' } });

    // The same paymentId for another order, of the same sale or of another one: refused, and nothing is written.
    const before = await head();
    for (const orderId of [c, e]) {
      for (const status of ['succeeded', 'failed'] as const) {
        const reused = await webhook({ paymentId: 'pay-reused', orderId, amount: PRICE, status });
        expect({ status: reused.status, code: reused.body.error?.code }).toEqual({ status: 409, code: 'PAYMENT_ID_REUSED' });
      }
      expect((await client.request('GET', `/orders/${orderId}`, { token: admin })).body.status).toBe('reserved');
    }
    // Redelivered to its own order: the same answer, no second effect.
    expect(await webhook({ paymentId: 'pay-reused', orderId: b, amount: PRICE })).toMatchObject({ status: 200, body: first.body });
    expect(await head()).toBe(before);
    expect((await adminView(saleA)).totals.paid).toBe(1);
    expect((await adminView(saleB)).totals.paid).toBe(0);

    // Money an order cannot take is answered 409 and recorded for refund: a wrong amount (the hold stays payable),
    // and a second payment of an order already paid.
    const short = await webhook({ paymentId: 'pay-short', orderId: d, amount: PRICE - 1 });
    expect({ status: short.status, code: short.body.error?.code }).toEqual({ status: 409, code: 'ORDER_NOT_PAYABLE' });
    expect(short.body.error.message).toContain('refund of payment pay-short is recorded (amount_mismatch)');
    const again = await webhook({ paymentId: 'pay-second', orderId: b, amount: PRICE });
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'ORDER_NOT_PAYABLE' });
    expect(again.body.error.message).toContain('refund of payment pay-second is recorded (already_paid)');
    expect((await client.request('GET', `/orders/${d}`, { token: admin })).body.status).toBe('reserved');
    expect(await webhook({ paymentId: 'pay-right', orderId: d, amount: PRICE })).toMatchObject({ status: 200, body: { status: 'paid' } });

    const refunds = async () =>
      (
        await client.request('POST', '/analytics/query', {
          token: admin,
          body: { collection: 'orders', pipeline: [{ $match: { orderId: { $in: [b, d] } } }, { $unwind: '$refunds' }, { $sort: { 'refunds.paymentId': 1 } }] },
        })
      ).body.rows as Array<{ orderId: string; refunds: { paymentId: string; amount: number; reason: string } }>;
    const deadline = Date.now() + 10_000;
    let recorded = await refunds();
    while (recorded.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      recorded = await refunds();
    }
    expect(recorded.map((o) => [o.orderId, o.refunds.paymentId, o.refunds.amount, o.refunds.reason])).toEqual([
      [b, 'pay-second', PRICE, 'already_paid'],
      [d, 'pay-short', PRICE - 1, 'amount_mismatch'],
    ]);

    // npm run audit -- verify over the whole store: one outcome per payment, on the order it was received for.
    const verified = await runAuditCli<AuditVerdict>(['verify', '--data-dir', server.dataDir]);
    expect(verified.report.sales.flatMap((s) => s.violations)).toEqual([]);
    expect(verified.exitCode).toBe(0);
    expect(verified.report.sales.find((s) => s.saleId === saleA)).toMatchObject({ paid: 2 });
    expect(verified.report.sales.find((s) => s.saleId === saleB)).toMatchObject({ paid: 0 });
  });

  it('finds no violation in on-payment and on-order sales, where stock is taken at payment or at order', async () => {
    const onPayment = await createSale({ totalStock: 3, shards: 1, perUserLimit: 1, inventoryMode: 'on-payment' });
    const placed = await reserveAll(onPayment, ['p0', 'p1'].map((userId) => ({ userId, key: `${userId}-key-0001`, quantity: 1 })));
    expect(placed.map((r) => r.body.status)).toEqual(['placed', 'placed']);
    // One is paid (its stock is taken then), the other cancelled before any stock was taken.
    await pay(placed[0]!.body.orderId, PRICE);
    expect((await client.request('POST', `/orders/${placed[1]!.body.orderId}/cancel`, { token: client.token('p1') })).status).toBe(200);

    const onOrder = await createSale({ totalStock: 3, shards: 2, perUserLimit: 1, inventoryMode: 'on-order' });
    const ordered = await reserveAll(onOrder, ['o0', 'o1'].map((userId) => ({ userId, key: `${userId}-key-0001`, quantity: 1 })));
    expect((await client.request('POST', `/orders/${ordered[0]!.body.orderId}/cancel`, { token: client.token('o0') })).status).toBe(200);
    await pay(ordered[1]!.body.orderId, PRICE);

    for (const saleId of [onPayment, onOrder]) {
      const verified = await runAuditCli<AuditVerdict>(['verify', '--data-dir', server.dataDir, '--sale', saleId]);
      expect(verified.report.sales[0]?.violations).toEqual([]);
      expect(verified.exitCode).toBe(0);
      expect(unitsOfAudit(verified.report.sales[0])).toEqual(unitsOfView(await adminView(saleId)));
    }
  });
});
