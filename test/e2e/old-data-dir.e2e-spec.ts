import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AuditVerdict, SaleCounts } from '../../apps/audit/src/audit-model';
import { runAuditCli } from '../../apps/audit/test/run-audit-cli';
import { eventually } from '../support/eventually';
import { ApiClient } from './support/client';
import { ServerProcess } from './support/server';

/**
 * Issue #23: a DATA_DIR written by an earlier version opens, and passes `npm run audit -- verify`. The fixture was
 * written by commit 7a8fcd5 (2026-11-23) through its HTTP API only (test/fixtures/make-old-data-dir.mjs, see the
 * folder's README.md); manifest.json holds what that version answered for each order and sale.
 */
const FIXTURE = path.resolve(__dirname, '../fixtures/data-dir-7a8fcd5');

interface FixtureOrder {
  readonly orderId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly saleId: string;
  readonly status: string;
  readonly shard: number;
  readonly amount: number;
}
type Totals = Record<'allocated' | 'reserved' | 'paid' | 'released' | 'available', number>;
interface Manifest {
  readonly writtenBy: string;
  readonly files: readonly string[];
  readonly storeHead: number;
  readonly sales: Record<'reserve' | 'onOrder', { readonly id: string; readonly totals: Totals; readonly availableApprox: number }>;
  readonly orders: Record<string, FixtureOrder>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'manifest.json'), 'utf8')) as Manifest;
const { reserve, onOrder } = manifest.sales;
/** The hold still live when the old api stopped: long past its deadline now, so the current sagas expire it. */
const heldAtStop = manifest.orders['reserve.heldAtStop']!;

const unitsOf = (sale: SaleCounts | undefined): Totals => {
  if (!sale) throw new Error('the audit does not list the sale');
  const { allocated, reserved, paid, released, available } = sale;
  return { allocated, reserved, paid, released, available };
};
const verify = async (dataDir: string) => {
  const run = await runAuditCli<AuditVerdict>(['verify', '--data-dir', dataDir]);
  expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
  expect(run.report.ok).toBe(true);
  expect(run.report.logViolations).toEqual([]);
  for (const sale of run.report.sales) expect(sale.violations).toEqual([]);
  return { report: run.report, units: (saleId: string) => unitsOf(run.report.sales.find((s) => s.saleId === saleId)) };
};

describe('a DATA_DIR written by 7a8fcd5 (issue #23)', () => {
  let dataDir: string;
  let server: ServerProcess;
  let client: ApiClient | undefined;

  beforeAll(() => {
    // The fixture is never opened in place: a copy, as a user would bring their DATA_DIR.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-old-data-dir-'));
    for (const file of manifest.files) fs.copyFileSync(path.join(FIXTURE, file), path.join(dataDir, file));
    server = new ServerProcess({ dataDir, label: 'old-data-dir', env: { SWEEP_INTERVAL_MS: '200' } });
  });
  afterAll(async () => {
    await client?.destroy();
    await server.stop();
    server.cleanup();
  });

  it('is the old version\'s files as written: no WAL left (it checkpointed on close), nothing of the current version', () => {
    expect(manifest.writtenBy).toMatch(/^7a8fcd5/);
    expect(fs.readdirSync(FIXTURE).sort()).toEqual([...manifest.files, 'README.md', 'manifest.json'].sort());
    expect(manifest.files).toEqual(['events.sqlite', 'read-models.sqlite', 'worker.sqlite']);
  });

  it('passes the current audit verify as it is, with the counts the old api reported', async () => {
    const { report, units } = await verify(dataDir);
    expect(report.events).toBe(manifest.storeHead);
    expect(units(reserve.id)).toEqual(reserve.totals);
    expect(units(onOrder.id)).toEqual(onOrder.totals);
  });

  it('is served by the current api: old orders with their status, stock figures, a new reservation, and the audit after it', async () => {
    // LOG_LEVEL info: the sagas say where they resume, which shows the old worker.sqlite's checkpoint was read.
    await server.start({ LOG_LEVEL: 'info' });
    client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
    const api = client;
    const admin = api.token('admin-now', ['admin']);
    const order = async (o: FixtureOrder, token = admin) => api.request('GET', `/orders/${o.orderId}`, { token });

    // The hold live at the old api's stop is past its deadline: the current sagas, resuming from the old checkpoint, end it.
    let seen: unknown;
    await eventually('the hold left live by the old api expires', async () => {
      seen = (await order(heldAtStop)).body;
      return (seen as { status?: string }).status === 'expired';
    }, { timeoutMs: 30_000, intervalMs: 100, seen: () => seen });
    // ... resuming from the old checkpoint, not from the log's start (a version that dropped the old checkpoint
    // would replay from 0 and pass every other check here).
    // (The api's own gate sync, with WORKER=external, follows from 0 by design: its gate lives in the process.)
    const resumedFrom = server.logs
      .split('\n')
      .filter((line) => line.includes('"sagas following the log"'))
      .map((line) => JSON.parse(line) as { follower?: string; from: number })
      .filter((line) => line.follower === 'sagas')
      .map((line) => line.from);
    expect(resumedFrom).toEqual([expect.any(Number)]);
    expect(resumedFrom[0]).toBeGreaterThan(0);
    expect(resumedFrom[0]).toBeLessThanOrEqual(manifest.storeHead);

    for (const [name, o] of Object.entries(manifest.orders)) {
      const status = o === heldAtStop ? 'expired' : o.status;
      const expected = { orderId: o.orderId, saleId: o.saleId, userId: o.userId, quantity: o.quantity, shard: o.shard, amount: o.amount, status };
      // As the admin and as its buyer (whose token the current JWT_SECRET signs: tokens are never stored).
      for (const token of [admin, api.token(o.userId)]) {
        const res = await order(o, token);
        expect({ name, status: res.status, body: res.body }).toEqual({ name, status: 200, body: expect.objectContaining(expected) });
      }
    }

    // Stock: the expired hold's unit came back; everything else as the old api left it.
    const reserveNow: Totals = { ...reserve.totals, released: reserve.totals.released + heldAtStop.quantity, available: reserve.totals.available + heldAtStop.quantity };
    const publicView = async (saleId: string) => (await api.request('GET', `/sales/${saleId}`)).body;
    const adminTotals = async (saleId: string) => (await api.request('GET', `/admin/sales/${saleId}`, { token: admin })).body.totals;
    // The public view is cached for a second (API.md): read until it shows `available`.
    const publicShows = (saleId: string, available: number) =>
      eventually(`GET /sales/${saleId} shows ${available} units`, async () => {
        seen = await publicView(saleId);
        return (seen as { availableApprox?: number }).availableApprox === available;
      }, { timeoutMs: 10_000, intervalMs: 100, seen: () => seen });
    await publicShows(reserve.id, reserveNow.available);
    await publicShows(onOrder.id, onOrder.availableApprox);
    expect(await publicView(reserve.id)).toMatchObject({ id: reserve.id, status: 'open', inventoryMode: 'reserve', price: 1500, perUserLimit: 2 });
    expect(await publicView(onOrder.id)).toMatchObject({ id: onOrder.id, status: 'open', inventoryMode: 'on-order', price: 1500, perUserLimit: 1 });
    expect(await adminTotals(reserve.id)).toMatchObject(reserveNow);
    expect(await adminTotals(onOrder.id)).toMatchObject(onOrder.totals);

    const reservation = async (saleId: string, userId: string, key: string) => {
      const token = api.token(userId);
      const access = await api.request('GET', `/sales/${saleId}/access`, { token });
      expect(access.status).toBe(200);
      return api.request('POST', `/sales/${saleId}/reservations`, { token, headers: { 'idempotency-key': key }, body: { quantity: 1, purchaseToken: access.body.purchaseToken } });
    };
    // An old buyer's Idempotency-Key is still known: the original answer, nothing written.
    const paid1 = manifest.orders['reserve.paid1']!;
    const replay = await reservation(reserve.id, paid1.userId, `key-${paid1.userId}-0001`);
    expect({ status: replay.status, orderId: replay.body.orderId }).toEqual({ status: 200, orderId: paid1.orderId });

    // New reservations on both old sales.
    const fresh = await reservation(reserve.id, 'buyer-after-upgrade', 'key-after-upgrade-0001');
    expect(fresh.status).toBe(201);
    const freshOnOrder = await reservation(onOrder.id, 'buyer-after-upgrade', 'key-after-upgrade-0002');
    expect(freshOnOrder.status).toBe(201);
    expect((await api.request('GET', `/orders/${fresh.body.orderId}`, { token: admin })).body).toMatchObject({ saleId: reserve.id, status: 'reserved', quantity: 1 });
    expect((await api.request('GET', `/orders/${freshOnOrder.body.orderId}`, { token: admin })).body).toMatchObject({ saleId: onOrder.id, status: 'placed', quantity: 1 });
    await publicShows(reserve.id, reserveNow.available - 1);
    await publicShows(onOrder.id, onOrder.availableApprox - 1);

    // The analytics read models (the old version's file, carried on) know the old orders and the new one.
    const reserveOrders = Object.values(manifest.orders).filter((o) => o.saleId === reserve.id);
    const count = (status: string) => reserveOrders.filter((o) => (o === heldAtStop ? 'expired' : o.status) === status).length;
    const summary = {
      reserved: 1,
      paid: count('paid'),
      expired: count('expired'),
      cancelled: count('cancelled'),
      refundPending: count('refund_pending'),
      orders: reserveOrders.length + 1,
      uniqueBuyers: reserveOrders.length + 1,
      available: reserveNow.available - 1,
      revenue: reserveOrders.filter((o) => o.status === 'paid').reduce((sum, o) => sum + o.amount, 0),
    };
    await eventually('the analytics summary of the reserve sale counts the new order', async () => {
      const res = await api.request('GET', `/analytics/sales/${reserve.id}/summary`, { token: admin });
      seen = res.body;
      return res.status === 200 && Object.entries(summary).every(([k, v]) => res.body[k] === v);
    }, { timeoutMs: 30_000, intervalMs: 100, seen: () => ({ expected: summary, seen }) });

    await api.destroy();
    client = undefined;
    expect(await server.stop('SIGTERM')).toBe(0);

    // The audit of the store as the current version left it.
    const { units } = await verify(dataDir);
    expect(units(reserve.id)).toEqual({ ...reserveNow, reserved: reserveNow.reserved + 1, available: reserveNow.available - 1 });
    expect(units(onOrder.id)).toEqual({ ...onOrder.totals, reserved: onOrder.totals.reserved + 1, available: onOrder.totals.available - 1 });
  });
});
