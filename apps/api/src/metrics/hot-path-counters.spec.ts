import { HotPathCounters } from './hot-path-counters';

const valueOf = async (counters: HotPathCounters, name: string, labels: Record<string, string>): Promise<number> => {
  const metric = (await counters.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const found = (metric?.values ?? []).find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return found?.value ?? 0;
};

describe('HotPathCounters', () => {
  it('adds the tallied answers, refusals and verdicts to their counters at each scrape, each count once', async () => {
    const counters = new HotPathCounters();
    const reservations = counters.routeAnswers('POST', '/sales/:id/reservations');
    reservations.answered(409);
    reservations.answered(409);
    reservations.answered(201);
    counters.rejected('sale-1', 'SOLD_OUT');
    counters.rejected('sale-2', 'SOLD_OUT');
    counters.rejected('sale-1', 'SOLD_OUT');
    counters.gateDecided('admitted');
    counters.requests.inc({ method: 'POST', route: '/sales/:id/reservations', code: '409' }); // as the global onResponse hook does

    const answered = { method: 'POST', route: '/sales/:id/reservations' };
    expect(await valueOf(counters, 'http_requests_total', { ...answered, code: '409' })).toBe(3);
    expect(await valueOf(counters, 'http_requests_total', { ...answered, code: '201' })).toBe(1);
    expect(await valueOf(counters, 'purchase_rejections_total', { sale: 'sale-1', code: 'SOLD_OUT' })).toBe(2);
    expect(await valueOf(counters, 'purchase_rejections_total', { sale: 'sale-2', code: 'SOLD_OUT' })).toBe(1);
    expect(await valueOf(counters, 'gate_decisions_total', { verdict: 'admitted' })).toBe(1);

    // A second scrape with nothing new shows the same totals; new counts add to them.
    expect(await valueOf(counters, 'http_requests_total', { ...answered, code: '409' })).toBe(3);
    reservations.answered(409);
    expect(await valueOf(counters, 'http_requests_total', { ...answered, code: '409' })).toBe(4);
    expect(await counters.registry.metrics()).toContain('http_requests_total{method="POST",route="/sales/:id/reservations",code="409"} 4');
  });

  it('keeps the answers of each route that counts its own under that route', async () => {
    const counters = new HotPathCounters();
    counters.routeAnswers('POST', '/a').answered(200);
    counters.routeAnswers('GET', '/b').answered(200);
    expect(await valueOf(counters, 'http_requests_total', { method: 'POST', route: '/a', code: '200' })).toBe(1);
    expect(await valueOf(counters, 'http_requests_total', { method: 'GET', route: '/b', code: '200' })).toBe(1);
  });

  it('shows the latencies a route reports as a cumulative histogram of that route, with sum and count', async () => {
    const counters = new HotPathCounters();
    const answers = counters.routeAnswers('POST', '/a');
    answers.answered(201, 0.0007);
    answers.answered(409, 0.003);
    answers.answered(409); // a transport's refusal: counted, no latency
    const text = await counters.registry.metrics();
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain('http_request_duration_seconds_bucket{method="POST",route="/a",le="0.0005"} 0');
    expect(text).toContain('http_request_duration_seconds_bucket{method="POST",route="/a",le="0.001"} 1');
    expect(text).toContain('http_request_duration_seconds_bucket{method="POST",route="/a",le="0.005"} 2');
    expect(text).toContain('http_request_duration_seconds_bucket{method="POST",route="/a",le="+Inf"} 2');
    expect(text).toContain('http_request_duration_seconds_sum{method="POST",route="/a"} 0.0037');
    expect(text).toContain('http_request_duration_seconds_count{method="POST",route="/a"} 2');
    expect(await valueOf(counters, 'http_requests_total', { method: 'POST', route: '/a', code: '409' })).toBe(2);
  });

  it('counts the commands of every shard append in the batch-size histogram and times the append', async () => {
    const counters = new HotPathCounters();
    counters.shardAppended(3, 0.002);
    counters.shardAppended(1, 0.004);
    const text = await counters.registry.metrics();
    expect(text).toContain('shard_append_batch_size_bucket{le="2"} 1');
    expect(text).toContain('shard_append_batch_size_bucket{le="4"} 2');
    expect(text).toContain('shard_append_batch_size_sum 4');
    expect(text).toContain('shard_append_batch_size_count 2');
    expect(text).toContain('shard_append_duration_seconds_count 2');
  });
});
