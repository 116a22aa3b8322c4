import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeRequiring } from '../support/ci';
import { eventually } from '../support/eventually';
import { parsePrometheusText, Sample, sampleSum } from '../support/prometheus-text';
import { metricNamesIn } from '../support/promql-names';
import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';

const STOCK = 5;
const BUYERS = 14;
const ROUTE = { method: 'POST', route: '/sales/:id/reservations' };
const INFRA = path.resolve(__dirname, '../../infra');
/** Series Prometheus makes itself, not the api. */
const SYNTHETIC = new Set(['up']);
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
/** prom-client's own default gauges named `*_total`, which promtool's linter flags; not ours to rename. */
const PROM_CLIENT_DEFAULTS = /^nodejs_active_(handles|requests|resources)_total /;

/** Every PromQL expression of the live-sale dashboard and of the alert rules (one expression per `expr:` line). */
const queriedExpressions = (): Array<{ where: string; expr: string }> => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(INFRA, 'grafana/dashboards/live-sale.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  const panels = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr ?? '' })));
  const variables = dashboard.templating.list.map((v) => ({ where: `variable $${v.name}`, expr: /label_values\((\w+)/.exec(v.definition ?? '')?.[1] ?? '' }));
  const rules = fs.readFileSync(path.join(INFRA, 'prometheus/alerts.yml'), 'utf8');
  const alerts = [...rules.matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => ({ where: 'alerts.yml', expr: m[1] as string }));
  return [...panels, ...variables, ...alerts];
};

/**
 * GET /metrics tells the story of a sale: scraped before and after a small sale (STOCK units, BUYERS buyers, one unit
 * each), every series the runbook and the dashboard read moved by exactly what happened.
 */
describe('GET /metrics before and after a sale', () => {
  const server = new ServerProcess({ label: 'metrics' });
  let client: ApiClient;
  let admin: string;

  const scrape = async (): Promise<Sample[]> => {
    const res = await client.request('GET', '/metrics');
    expect(res.status).toBe(200);
    return parsePrometheusText(String(res.body));
  };

  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 16);
    admin = client.token('admin-metrics', ['admin']);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('moves reservations, rejections by sale and code, gate verdicts, append batches and stock by what the sale did', async () => {
    const sale = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: STOCK, shards: 2, perUserLimit: 1 }) });
    expect(sale.status).toBe(201);
    const saleId = sale.body.id as string;
    const buyers = Array.from({ length: BUYERS }, (_, i) => client.token(`metrics-buyer-${i}`));
    const purchaseTokens = await Promise.all(buyers.map(async (bearer) => (await client.request('GET', `/sales/${saleId}/access`, { token: bearer })).body.purchaseToken as string));

    const before = await scrape();
    const answers = await Promise.all(
      buyers.map((bearer, i) =>
        client.request('POST', `/sales/${saleId}/reservations`, {
          token: bearer,
          headers: { 'idempotency-key': `metrics-key-${i}` },
          body: { quantity: 1, purchaseToken: purchaseTokens[i] },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array<number>(STOCK).fill(201), ...Array<number>(BUYERS - STOCK).fill(409)]);
    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}): number => sampleSum(after, name, labels) - sampleSum(before, name, labels);

    // Requests by route and status, and one latency observation per answer of the route.
    expect(moved('http_requests_total', { ...ROUTE, code: '201' })).toBe(STOCK);
    expect(moved('http_requests_total', { ...ROUTE, code: '409' })).toBe(BUYERS - STOCK);
    expect(moved('http_request_duration_seconds_count', ROUTE)).toBe(BUYERS);
    expect(moved('http_request_duration_seconds_bucket', { ...ROUTE, le: '+Inf' })).toBe(BUYERS);

    // Rejections by sale and code: every refusal was SOLD_OUT, counted once, under this sale.
    expect(moved('purchase_rejections_total', { sale: saleId, code: 'SOLD_OUT' })).toBe(BUYERS - STOCK);
    expect(moved('purchase_rejections_total', { sale: saleId })).toBe(BUYERS - STOCK);

    // The gate admitted exactly the stock, and decided once per request.
    expect(moved('gate_decisions_total', { verdict: 'admitted' })).toBe(STOCK);
    expect(moved('gate_decisions_total')).toBe(BUYERS);

    // Group commit: the batch sizes add up to the reservations appended, in at least one append and at most one each.
    expect(moved('shard_append_batch_size_sum')).toBe(STOCK);
    expect(moved('shard_append_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(moved('shard_append_batch_size_count')).toBeLessThanOrEqual(STOCK);
    expect(moved('shard_append_duration_seconds_count')).toBe(moved('shard_append_batch_size_count'));
    // The embedded store synced its log for them (one fdatasync may cover several appends).
    expect(moved('event_store_sync_duration_seconds_count')).toBeGreaterThanOrEqual(1);

    // Per-shard stock as the writers hold it: all taken, none available, across both shards.
    expect(sampleSum(after, 'shard_stock_units', { sale: saleId, state: 'allocated' })).toBe(STOCK);
    expect(sampleSum(after, 'shard_stock_units', { sale: saleId, state: 'reserved' })).toBe(STOCK);
    expect(sampleSum(after, 'shard_stock_units', { sale: saleId, state: 'available' })).toBe(0);
    expect(after.filter((s) => s.name === 'shard_stock_units' && s.labels.sale === saleId && s.labels.state === 'available')).toHaveLength(2);

    // The projection catches up with the sale and finds the invariant whole.
    let seen: Sample[] = [];
    const oversold = (): number | undefined => seen.find((s) => s.name === 'sale_oversold' && s.labels.sale === saleId)?.value;
    await eventually(
      'the analytics projection to catch up and report the sale not oversold',
      async () => {
        seen = await scrape();
        return oversold() === 0 && sampleSum(seen, 'projection_lag_events', { follower: 'analytics' }) === 0;
      },
      { seen: () => ({ oversold: oversold(), lag: sampleSum(seen, 'projection_lag_events', { follower: 'analytics' }) }) },
    );
  });
  // After the sale above: every kind of series has been touched once (a refusal, a shard loaded, the projection run).
  it('exposes every series the dashboard panels and the alert rules query', async () => {
    const exposed = new Set((await scrape()).map((s) => s.name));
    const queried = queriedExpressions();
    expect(queried.length).toBeGreaterThan(20);
    const missing = queried.flatMap(({ where, expr }) => metricNamesIn(expr).filter((name) => !exposed.has(name) && !SYNTHETIC.has(name)).map((name) => `${where}: ${name}`));
    expect(missing).toEqual([]);
  });
  describeRequiring(
    { what: 'promtool (apt-get install prometheus)', available: () => spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore' }).status === 0 },
    'the exposition, linted by promtool',
    () => {
      it('follows Prometheus naming conventions (promtool check metrics), prom-client defaults aside', async () => {
        const text = String((await client.request('GET', '/metrics')).body);
        const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
        const problems = `${lint.stdout}${lint.stderr}`
          .split('\n')
          .filter((line) => line.trim() !== '' && !PROM_CLIENT_DEFAULTS.test(line));
        expect(problems).toEqual([]);
      });
    },
  );
});
