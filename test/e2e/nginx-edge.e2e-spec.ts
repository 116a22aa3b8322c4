import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describeRequiring } from '../support/ci';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { ApiClient, ERROR_ENVELOPE, openSale } from './support/client';
import { ServerProcess } from './support/server';

/**
 * infra/nginx as shipped, checked with Debian's nginx (`.ci/run` installs it): `nginx -t`, then nginx running in front
 * of the built api (replica 1) and a replica that is not ready (replica 2), as docker compose would run it. Only the
 * replica addresses (compose's `api`, which resolves to each replica), the listen port, the pid file and the
 * directories are rewritten for this machine.
 */

const REPO = path.resolve(__dirname, '../..');
const NGINX = '/usr/sbin/nginx';
const hasNginx = { what: 'nginx (Debian package nginx)', available: () => fs.existsSync(NGINX) };

interface Rendered {
  readonly dir: string;
  readonly conf: string;
}

/** The compose service `api`, which resolves to every replica: here, two servers of our own. */
const REPLICAS = 'server api:3000 max_fails=3 fail_timeout=5s;';

/** infra/nginx with this machine's addresses in place of the compose service names. */
const render = (listen: number, replicas: readonly [number, number]): Rendered => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nginx-edge-'));
  const snippets = path.join(dir, 'flash-sale');
  fs.cpSync(path.join(REPO, 'infra/nginx/flash-sale'), snippets, { recursive: true });
  const shipped = fs.readFileSync(path.join(REPO, 'infra/nginx/nginx.conf'), 'utf8');
  const conf = shipped
    .replaceAll(REPLICAS, `server 127.0.0.1:${replicas[0]} max_fails=3 fail_timeout=5s;\n    server 127.0.0.1:${replicas[1]} max_fails=3 fail_timeout=5s;`)
    .replace('listen 80 reuseport', `listen 127.0.0.1:${listen} reuseport`)
    .replace('pid /run/nginx.pid;', `pid ${dir}/nginx.pid;`)
    .replaceAll('/etc/nginx/flash-sale/', `${snippets}/`)
    .replaceAll('/usr/share/nginx/sale-page', path.join(REPO, 'apps/web-static'))
    .replace('access_log /dev/stdout json;', `access_log ${dir}/access.log json;`);
  for (const [what, from] of [
    ['listen', 'listen 80 reuseport'],
    ['pid', 'pid /run/nginx.pid;'],
    ['replicas', REPLICAS],
  ] as const) {
    if (!shipped.includes(from)) throw new Error(`infra/nginx/nginx.conf changed: its ${what} ("${from}") is no longer where this test rewrites it`);
  }
  const file = path.join(dir, 'nginx.conf');
  // Temp paths inside the test's directory: no write outside it.
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  fs.writeFileSync(file, conf.replace('http {\n', `http {\n${temps}\n`));
  return { dir, conf: file };
};

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request from a client address of our choosing (any 127.0.0.0/8 address is this machine). */
const request = (
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string; from?: string },
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {}, localAddress: options.from ?? '127.0.0.1', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });

const json = (answer: Answer): { error: { code: string } } & Record<string, unknown> => JSON.parse(answer.body.toString('utf8'));

describeRequiring(hasNginx, 'infra/nginx in front of the api replicas', () => {
  // nginx reaches the api from 127.0.0.1; the buyers come from other loopback addresses.
  const api = new ServerProcess({ env: { TRUST_PROXY: '127.0.0.1', ACCESS_LIMITS: 'off' }, label: 'nginx-edge' });
  let nginx: ChildProcess | undefined;
  let rendered: Rendered = { dir: '', conf: '' };
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
    edge = await freePort();
    rendered = render(edge, [api.port, (notReady.address() as AddressInfo).port]);
    nginx = spawn(NGINX, ['-c', rendered.conf, '-p', rendered.dir, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    nginx.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually('nginx answers on its port', async () => {
      if (nginx?.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
      return (await request(edge, { path: '/health/live' }).catch(() => undefined))?.status === 200;
    });
  });

  afterAll(async () => {
    nginx?.kill('SIGQUIT');
    if (nginx !== undefined && nginx.exitCode === null) await new Promise((r) => nginx?.once('exit', r));
    await (client as ApiClient | undefined)?.destroy();
    await api.stop();
    api.cleanup();
    notReady.close();
    if (rendered.dir !== '') fs.rmSync(rendered.dir, { recursive: true, force: true });
  });

  it('passes `nginx -t` as shipped (addresses aside)', () => {
    const output = execFileSync(NGINX, ['-t', '-c', rendered.conf, '-p', rendered.dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
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

  it('answers in the envelope when no replica can take a request, and hides /metrics from the public edge', async () => {
    expect((await request(edge, { path: '/metrics' })).status).toBe(404);
    const lone = await freePort();
    const down = render(await freePort(), [lone, lone]);
    const port = Number(/listen 127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(down.conf, 'utf8'))?.[1]);
    const proc = spawn(NGINX, ['-c', down.conf, '-p', down.dir, '-g', 'daemon off;'], { stdio: 'ignore' });
    try {
      let answer: Answer | undefined;
      await eventually('the second nginx answers', async () => {
        answer = await request(port, { path: `/sales/${saleId}` }).catch(() => undefined);
        return answer !== undefined;
      });
      if (answer === undefined) throw new Error('unreachable');
      expect(answer.status).toBe(503);
      expect(json(answer)).toEqual(ERROR_ENVELOPE);
      expect({ code: json(answer).error.code, retryAfter: answer.headers['retry-after'] }).toEqual({ code: 'OVERLOADED', retryAfter: '1' });
    } finally {
      proc.kill('SIGQUIT');
      await new Promise((r) => proc.once('exit', r));
      fs.rmSync(down.dir, { recursive: true, force: true });
    }
  });
});
