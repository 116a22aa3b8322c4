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
    counters.rejected('SOLD_OUT');
    counters.gateDecided('admitted');
    counters.requests.inc({ method: 'POST', route: '/sales/:id/reservations', code: '409' }); // as the global onResponse hook does

    const answered = { method: 'POST', route: '/sales/:id/reservations' };
    expect(await valueOf(counters, 'http_requests_total', { ...answered, code: '409' })).toBe(3);
    expect(await valueOf(counters, 'http_requests_total', { ...answered, code: '201' })).toBe(1);
    expect(await valueOf(counters, 'purchase_rejections_total', { code: 'SOLD_OUT' })).toBe(1);
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
});
