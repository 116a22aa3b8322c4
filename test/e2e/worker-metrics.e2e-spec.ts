import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { parsePrometheusText, Sample, sampleSum } from '../support/prometheus-text';
import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';

const STOCK = 3;
const HOLD_MS = 2000;

/**
 * The worker process (WORKER=external) serves GET /metrics on WORKER_METRICS_PORT: the sagas it runs show their
 * backlog while holds wait to expire and drain it once they have, its projection catches up and finds the sale not
 * oversold, and the process' own event loop and memory are there. (This suite chooses its own mode: it runs in the
 * `e2e` project, not in `e2e-external`.)
 */
describe('the worker process serves its own /metrics', () => {
  let server: ServerProcess;
  let client: ApiClient;
  let workerMetrics: string;

  const scrapeWorker = async (): Promise<Sample[]> => {
    const res = await fetch(workerMetrics);
    expect(res.status).toBe(200);
    return parsePrometheusText(await res.text());
  };

  beforeAll(async () => {
    const port = await freePort();
    workerMetrics = `http://127.0.0.1:${port}/metrics`;
    server = new ServerProcess({ label: 'wmetrics', env: { WORKER: 'external', WORKER_METRICS_PORT: String(port), SWEEP_INTERVAL_MS: '200' } });
    await server.start();
    expect(server.workerRunning).toBe(true);
    client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('shows the expiry backlog of unpaid holds, then none once they expired, and the sale not oversold', async () => {
    const admin = client.token('admin-wmetrics', ['admin']);
    const sale = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: STOCK, shards: 1, holdTtlMs: HOLD_MS }) });
    expect(sale.status).toBe(201);
    const saleId = sale.body.id as string;
    for (let i = 0; i < STOCK; i++) {
      const bearer = client.token(`wmetrics-buyer-${i}`);
      const purchaseToken = (await client.request('GET', `/sales/${saleId}/access`, { token: bearer })).body.purchaseToken as string;
      const res = await client.request('POST', `/sales/${saleId}/reservations`, { token: bearer, headers: { 'idempotency-key': `wmetrics-${i}` }, body: { quantity: 1, purchaseToken } });
      expect(res.status).toBe(201);
    }

    let seen: Sample[] = [];
    const expiryBacklog = (): number => sampleSum(seen, 'saga_backlog', { process: 'expiry' });
    const oversold = (): number | undefined => seen.find((s) => s.name === 'sale_oversold' && s.labels.sale === saleId)?.value;
    // The holds are pending in the worker's expiry saga until their deadline.
    await eventually(
      'the worker\'s expiry saga to hold the three holds',
      async () => {
        seen = await scrapeWorker();
        return expiryBacklog() === STOCK;
      },
      { seen: () => expiryBacklog() },
    );
    // Then they expire, and the worker's own projection has folded it all without finding more taken than allocated.
    await eventually(
      'the holds to expire and the projection to catch up',
      async () => {
        seen = await scrapeWorker();
        return expiryBacklog() === 0 && oversold() === 0 && sampleSum(seen, 'projection_lag_events', { follower: 'analytics' }) === 0;
      },
      { timeoutMs: 60_000, seen: () => ({ backlog: expiryBacklog(), oversold: oversold(), lag: sampleSum(seen, 'projection_lag_events', { follower: 'analytics' }) }) },
    );
    const names = new Set(seen.map((s) => s.name));
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'saga_timer_lag_seconds', 'projection_lag_seconds']) {
      expect({ name, exposed: names.has(name) }).toEqual({ name, exposed: true });
    }
    expect((await fetch(workerMetrics.replace('/metrics', '/health/ready'))).status).toBe(404);
  });
});
