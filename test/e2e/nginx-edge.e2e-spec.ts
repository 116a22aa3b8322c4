import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describeRequiring } from '../support/ci';
import { freePort } from '../support/free-port';
import { ApiClient, ERROR_ENVELOPE, openSale } from './support/client';
import { Answer, hasNginx, NGINX, NginxEdge, requestFrom as request } from './support/nginx-edge';
import { ServerProcess } from './support/server';

/**
 * infra/nginx as shipped, checked with Debian's nginx (`.ci/run` installs it): `nginx -t`, then nginx running in front
 * of the built api (replica 1) and a replica that is not ready (replica 2), as docker compose would run it (the
 * rewriting of addresses: support/nginx-edge.ts).
 */

const REPO = path.resolve(__dirname, '../..');

const json = (answer: Answer): { error: { code: string } } & Record<string, unknown> => JSON.parse(answer.body.toString('utf8'));

describeRequiring(hasNginx, 'infra/nginx in front of the api replicas', () => {
  // nginx reaches the api from 127.0.0.1; the buyers come from other loopback addresses.
  const api = new ServerProcess({ env: { TRUST_PROXY: '127.0.0.1', ACCESS_LIMITS: 'off' }, label: 'nginx-edge' });
  const nginx = new NginxEdge();
  let edge = 0;
  let client = undefined as unknown as ApiClient;
  let admin = '';
  let saleId = '';
  // Replica 2 is alive but not ready (starting, or draining on SIGTERM): it answers 503 NOT_READY to everything.
  const notReadyHits: string[] = [];
  const notReady = http.createServer((req, res) => {
    notReadyHits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end('{"error":{"code":"NOT_READY","message":"starting","retryable":true,"retryAfterMs":1000}}');
    });
  });

  beforeAll(async () => {
    await api.start();
    client = new ApiClient(api.baseUrl, api.jwtSecret, 8);
    admin = client.token('admin-1', ['admin']);
    const created = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: 100, shards: 2, perUserLimit: 1 }) });
    expect(created.status).toBe(201);
    saleId = created.body.id as string;

    await new Promise<void>((r) => notReady.listen(0, '127.0.0.1', r));
    await nginx.start([api.port, (notReady.address() as AddressInfo).port]);
    edge = nginx.port;
  });

  afterAll(async () => {
    await nginx.stop();
    await (client as ApiClient | undefined)?.destroy();
    await api.stop();
    api.cleanup();
    notReady.close();
  });

  it('passes `nginx -t` as shipped (addresses aside)', () => {
    const output = execFileSync(NGINX, ['-t', '-c', nginx.rendered.conf, '-p', nginx.rendered.dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(output).toBe('');
  });

  it('serves the sale page from disk, gzipped and cached, and the activation script never cached', async () => {
    const page = await request(edge, { path: '/?sale=x', headers: { 'accept-encoding': 'gzip' } });
    expect(page.status).toBe(200);
    expect(page.headers['content-encoding']).toBe('gzip');
    expect(page.headers['cache-control']).toBe('public, max-age=300');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(gunzipSync(page.body).toString('utf8')).toBe(fs.readFileSync(path.join(REPO, 'apps/web-static/index.html'), 'utf8'));

    const script = await request(edge, { path: '/sale-page/sale.js', headers: { 'accept-encoding': 'gzip' } });
    expect({ status: script.status, encoding: script.headers['content-encoding'], cache: script.headers['cache-control'] }).toEqual({
      status: 200,
      encoding: 'gzip',
      cache: 'public, max-age=86400',
    });
    expect(script.headers.etag).toBeDefined();

    const activation = await request(edge, { path: '/sale-page/activate.js' });
    expect({ status: activation.status, cache: activation.headers['cache-control'], etag: activation.headers.etag }).toEqual({ status: 200, cache: 'no-store', etag: undefined });

    // Not a way around the page's location, and nothing outside the page's directory.
    for (const p of ['/index.html', '/sale-page/../../package.json', '/sale-page/%2e%2e/sale.js', '/sale-page/missing.js']) {
      const res = await request(edge, { path: p });
      expect({ path: p, status: res.status }).toEqual({ path: p, status: expect.any(Number) });
      expect(res.status === 404 || res.status === 400).toBe(true);
      if (res.status === 404) expect(json(res)).toEqual(ERROR_ENVELOPE);
    }
  });

  it('routes every request to the replica that is ready: reservations (safe to resend, by their key) and GETs alike', async () => {
    // The sale upstream has seen no request yet: round robin sends one of the first two to the replica that is not
    // ready, which answers 503 after reading it; nginx must resend that POST to the other (proxy_next_upstream …
    // non_idempotent), which it does only because a reservation carries its Idempotency-Key.
    const reserveThroughEdge = async (userId: string, from: string) => {
      const buyer = client.token(userId);
      const access = await client.request('GET', `/sales/${saleId}/access`, { token: buyer });
      expect(access.status).toBe(200);
      const body = JSON.stringify({ quantity: 1, purchaseToken: access.body.purchaseToken as string });
      const headers = { authorization: `Bearer ${buyer}`, 'content-type': 'application/json', 'idempotency-key': `edge-key-${userId}` };
      const send = () => request(edge, { method: 'POST', path: `/sales/${saleId}/reservations`, headers, body, from });
      return { first: await send(), send };
    };
    const one = await reserveThroughEdge('edge-buyer-1', '127.0.0.3');
    const two = await reserveThroughEdge('edge-buyer-2', '127.0.0.3');
    expect([one.first.status, two.first.status]).toEqual([201, 201]);
    expect(notReadyHits.filter((hit) => hit.startsWith('POST'))).not.toEqual([]);
    // Sent again (as nginx does to the next replica): a replay, the same order.
    const again = await one.send();
    expect({ status: again.status, body: json(again) }).toEqual({ status: 200, body: json(one.first) });
    for (let i = 0; i < 6; i++) expect((await request(edge, { path: `/sales/${saleId}` })).status).toBe(200);
  });

  it('limits the purchase route per client address before the api sees it, answering in the envelope with Retry-After', async () => {
    const token = client.token('greedy');
    const attempts = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        request(edge, {
          method: 'POST',
          path: `/sales/${saleId}/reservations`,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `greedy-key-${String(i).padStart(4, '0')}` },
          body: '{"quantity":1,"purchaseToken":"not-a-token"}',
          from: '127.0.0.4',
        }),
      ),
    );
    const limited = attempts.filter((a) => a.status === 429);
    // burst=10: at most 10 (+1 for the rate's own slot) reach the api; every other one is nginx's refusal.
    expect(limited.length).toBeGreaterThanOrEqual(40 - 11);
    for (const answer of limited) {
      expect(json(answer)).toEqual(ERROR_ENVELOPE);
      expect(json(answer).error.code).toBe('RATE_LIMITED');
      expect(answer.headers['retry-after']).toBe('1');
    }
    // Another address is not limited by the greedy one.
    const other = await request(edge, { path: `/sales/${saleId}` , from: '127.0.0.5' });
    expect(other.status).toBe(200);
  });

  it("passes the client's address to the api, which believes nginx and nobody else", async () => {
    const blocked = '127.0.0.6';
    const added = await client.request('POST', '/admin/blacklist', { token: admin, body: { ip: blocked, reason: 'edge test' } });
    expect(added.status).toBe(201);
    const token = client.token('behind-edge');
    // Through nginx from the blacklisted address: blocked, whatever it claims to be.
    const claimed = await request(edge, { path: `/sales/${saleId}/access`, headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '198.51.100.1' }, from: blocked });
    expect({ status: claimed.status, code: json(claimed).error.code }).toEqual({ status: 403, code: 'BLOCKED' });
    // From another address, claiming to be the blacklisted one: not believed.
    const forged = await request(edge, { path: `/sales/${saleId}/access`, headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': blocked }, from: '127.0.0.7' });
    expect(forged.status).toBe(200);
  });

  it('never marks every replica down for shedding load: each request still reaches a replica, which answers it', async () => {
    // Two replicas that shed everything (503 OVERLOADED, their own envelope) until told to sell.
    let shedding = true;
    const hits: number[] = [0, 0];
    const shedders = [0, 1].map((i) =>
      http.createServer((req, res) => {
        hits[i]! += 1;
        req.resume();
        req.on('end', () => {
          res.writeHead(shedding ? 503 : 201, { 'content-type': 'application/json', 'retry-after': '1' });
          res.end(shedding ? `{"error":{"code":"OVERLOADED","message":"replica ${String(i)} is shedding","retryable":true,"retryAfterMs":1000}}` : `{"orderId":"from-${String(i)}"}`);
        });
      }),
    );
    for (const server of shedders) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const busy = new NginxEdge();
    try {
      await busy.start(shedders.map((server) => (server.address() as AddressInfo).port));
      const reserve = (i: number) =>
        request(busy.port, {
          method: 'POST',
          path: '/sales/s-1/reservations',
          headers: { 'content-type': 'application/json', 'idempotency-key': `shed-key-${String(i).padStart(4, '0')}` },
          body: '{"quantity":1}',
          from: `127.0.1.${String(i + 1)}`,
        });
      // A spike: every replica sheds, far more than max_fails times within fail_timeout.
      const shed = await Promise.all(Array.from({ length: 12 }, (_, i) => reserve(i)));
      expect(shed.map((a) => a.status)).toEqual(Array.from({ length: 12 }, () => 503));
      // Each refusal is a replica's own, never nginx's "no api replica could take the request".
      expect(shed.filter((a) => !/replica [01] is shedding/.test(String((json(a).error as Record<string, unknown>).message))).map((a) => a.body.toString('utf8'))).toEqual([]);
      // The replicas recover: the very next request is sold, not refused by nginx for fail_timeout (5 s).
      shedding = false;
      const sold = await reserve(20);
      expect({ status: sold.status, body: sold.body.toString('utf8') }).toEqual({ status: 201, body: expect.stringMatching(/^\{"orderId":"from-[01]"\}$/) });
      expect(hits.every((n) => n > 0)).toBe(true);
    } finally {
      await busy.stop();
      for (const server of shedders) server.close();
    }
  });

  it('answers in the envelope when no replica can take a request, and hides /metrics from the public edge', async () => {
    expect((await request(edge, { path: '/metrics' })).status).toBe(404);
    const lone = await freePort();
    const down = new NginxEdge();
    try {
      await down.start([lone, lone]);
      const answer = await request(down.port, { path: `/sales/${saleId}` });
      expect(answer.status).toBe(503);
      expect(json(answer)).toEqual(ERROR_ENVELOPE);
      expect({ code: json(answer).error.code, retryAfter: answer.headers['retry-after'] }).toEqual({ code: 'OVERLOADED', retryAfter: '1' });
    } finally {
      await down.stop();
    }
  });
});
