import { createHmac } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { ApiClient, ApiResponse, ERROR_ENVELOPE, openSale } from './support/client';
import { ServerProcess } from './support/server';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('bad input gets its documented code and changes nothing', () => {
  const server = new ServerProcess();
  let client: ApiClient;
  let saleId: string;
  let purchaseToken: string;
  let buyer: string;
  let admin: string;

  const head = async (): Promise<number> => (await client.request('GET', '/health/ready')).body.details.store.head;

  const expectError = (res: ApiResponse, status: number, code: string): void => {
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
    expect(res.body).toEqual(ERROR_ENVELOPE);
  };

  const reserve = (options: { token?: string; key?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }) =>
    client.request('POST', `/sales/${saleId}/reservations`, {
      ...(options.token === undefined ? { token: buyer } : options.token === '' ? {} : { token: options.token }),
      headers: { ...(options.key === null ? {} : { 'idempotency-key': options.key ?? 'bad-input-key-0001' }), ...options.headers },
      ...(options.rawBody === undefined ? { body: options.body ?? { quantity: 1, purchaseToken } } : { rawBody: options.rawBody }),
    });

  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 16);
    admin = client.token('admin-1', ['admin']);
    buyer = client.token('buyer-1');
    const created = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: 10, shards: 2, perUserLimit: 2 }) });
    saleId = created.body.id;
    purchaseToken = (await client.request('GET', `/sales/${saleId}/access`, { token: buyer })).body.purchaseToken;
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('refuses malformed reservation bodies with VALIDATION_FAILED', async () => {
    const before = await head();
    const bodies: unknown[] = [
      { quantity: '1', purchaseToken },
      { quantity: 0, purchaseToken },
      { quantity: 1.5, purchaseToken },
      { quantity: -1, purchaseToken },
      { quantity: 1e300, purchaseToken },
      { quantity: 1 },
      { quantity: 1, purchaseToken: 42 },
      { quantity: 1, purchaseToken, extra: true },
      { quantity: 1, purchaseToken, nested: { a: 1 } },
      [1, 2, 3],
      'a string',
      null,
      { quantity: 3, purchaseToken }, // above perUserLimit
    ];
    for (const body of bodies) expectError(await reserve({ rawBody: JSON.stringify(body) }), 400, 'VALIDATION_FAILED');
    for (const raw of ['{bad', '', '{"quantity":1,', '{"__proto__":{"admin":true},"quantity":1,"purchaseToken":"x"}', '{"constructor":{"prototype":{"x":1}},"quantity":1}']) {
      expectError(await reserve({ rawBody: raw }), 400, 'VALIDATION_FAILED');
    }
    expectError(await reserve({ rawBody: 'quantity=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'VALIDATION_FAILED');
    expect(await head()).toBe(before);
  });

  it('requires a well-formed Idempotency-Key', async () => {
    const before = await head();
    expectError(await reserve({ key: null }), 400, 'VALIDATION_FAILED');
    expectError(await reserve({ key: 'short7c' }), 400, 'VALIDATION_FAILED');
    expectError(await reserve({ key: 'k'.repeat(129) }), 400, 'VALIDATION_FAILED');
    expectError(await reserve({ key: 'has spaces in it' }), 400, 'VALIDATION_FAILED');
    expect(await head()).toBe(before);
  });

  it('refuses missing, forged, expired, non-HS256 and too long-lived tokens with UNAUTHENTICATED', async () => {
    const before = await head();
    const now = Math.floor(Date.now() / 1000);
    const forged = createSigner({ key: 'not-the-secret', algorithm: 'HS256' })({ sub: 'buyer-1', exp: now + 600 });
    const expired = createSigner({ key: server.jwtSecret, algorithm: 'HS256' })({ sub: 'buyer-1', exp: now - 10 });
    const hs512 = createSigner({ key: server.jwtSecret, algorithm: 'HS512' })({ sub: 'buyer-1', exp: now + 600 });
    const noExp = createSigner({ key: server.jwtSecret, algorithm: 'HS256', noTimestamp: true })({ sub: 'buyer-1' });
    const badSub = createSigner({ key: server.jwtSecret, algorithm: 'HS256' })({ sub: 'has spaces', exp: now + 600 });
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'buyer-1', exp: now + 600, roles: ['admin'] })}.`;
    // Past JWT_MAX_TTL_S (a day): an exp of 10^12 s, one JSON.parse reads as Infinity, and a day and a minute.
    const exp1e12 = createSigner({ key: server.jwtSecret, algorithm: 'HS256' })({ sub: 'buyer-1', exp: 1e12, roles: ['admin'] });
    const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${Buffer.from('{"sub":"buyer-1","exp":1e400,"roles":["admin"]}').toString('base64url')}`;
    const expInfinity = `${unsigned}.${createHmac('sha256', server.jwtSecret).update(unsigned).digest('base64url')}`;
    const dayAndMinute = createSigner({ key: server.jwtSecret, algorithm: 'HS256', expiresIn: (86_400 + 60) * 1000 })({ sub: 'buyer-1', roles: ['admin'] });
    for (const token of [forged, expired, hs512, noExp, badSub, algNone, exp1e12, expInfinity, dayAndMinute, 'garbage', 'a.b.c']) {
      expectError(await reserve({ token }), 401, 'UNAUTHENTICATED');
      expectError(await client.request('GET', `/admin/sales/${saleId}`, { token }), 401, 'UNAUTHENTICATED');
    }
    expectError(await reserve({ token: '' }), 401, 'UNAUTHENTICATED');
    expectError(await client.request('GET', `/sales/${saleId}/access`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 401, 'UNAUTHENTICATED');
    expect(await head()).toBe(before);
  });

  it('takes the bearer scheme in any case (RFC 7235) and refuses any other scheme', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      expect((await client.request('GET', `/admin/sales/${saleId}`, { headers: { authorization: `${scheme} ${admin}` } })).status).toBe(200);
    }
    expectError(await client.request('GET', `/admin/sales/${saleId}`, { headers: { authorization: `Token ${admin}` } }), 401, 'UNAUTHENTICATED');
    expectError(await client.request('GET', `/admin/sales/${saleId}`, { headers: { authorization: 'bearer' } }), 401, 'UNAUTHENTICATED');
  });

  it('refuses a body naming a key twice with VALIDATION_FAILED, on every JSON route, the payment webhook included', async () => {
    const before = await head();
    expectError(await reserve({ rawBody: `{"quantity":1,"purchaseToken":"${purchaseToken}","quantity":2}` }), 400, 'VALIDATION_FAILED');
    const sale = JSON.stringify(openSale()).replace(/}$/, ',"perUserLimit":100}');
    expectError(await client.request('POST', '/admin/sales', { token: admin, rawBody: sale }), 400, 'VALIDATION_FAILED');
    const payment = '{"paymentId":"dup-1","orderId":"o","amount":1999,"status":"failed","status":"succeeded"}';
    const signature = createHmac('sha256', server.webhookSecret).update(payment).digest('hex');
    expectError(await client.request('POST', '/payments/webhook', { rawBody: payment, headers: { 'x-signature': signature } }), 400, 'VALIDATION_FAILED');
    expect(await head()).toBe(before);
  });

  it('checks role before the body: a buyer posting anything to an admin route gets FORBIDDEN', async () => {
    const before = await head();
    expectError(await client.request('POST', '/admin/sales', { token: buyer, rawBody: '{not json' }), 403, 'FORBIDDEN');
    expectError(await client.request('POST', '/admin/sales', { token: buyer, body: openSale() }), 403, 'FORBIDDEN');
    expectError(await client.request('GET', `/admin/sales/${saleId}`, { token: buyer }), 403, 'FORBIDDEN');
    expect(await head()).toBe(before);
  });

  it('refuses bodies over the limit with PAYLOAD_TOO_LARGE', async () => {
    const before = await head();
    const huge = JSON.stringify({ quantity: 1, purchaseToken: 'x'.repeat(20_000) });
    expectError(await reserve({ rawBody: huge }), 413, 'PAYLOAD_TOO_LARGE');
    expect(await head()).toBe(before);
  });

  it('validates sale creation strictly', async () => {
    const before = await head();
    const invalid: Record<string, unknown>[] = [
      { shards: 0 },
      { shards: 257 },
      { totalStock: 0 },
      { totalStock: 1_000_000_001 },
      { totalStock: 4, shards: 8 },
      { price: 1.5 },
      { price: '100' },
      { perUserLimit: 0 },
      { inventoryMode: 'sometimes' },
      { holdTtlMs: 999 },
      { challenge: 'captcha' },
      { startsAt: 'tomorrow' },
      { endsAt: new Date(Date.now() - 10_000).toISOString() },
      { surprise: 1 },
      { waitingRoom: { enabled: true, admitPerSecond: 0, tokenTtlMs: 1000 } },
      { waitingRoom: { enabled: true, admitPerSecond: 10, tokenTtlMs: 1000, extra: 1 } },
    ];
    for (const override of invalid) {
      expectError(await client.request('POST', '/admin/sales', { token: admin, body: openSale(override) }), 400, 'VALIDATION_FAILED');
    }
    expect(await head()).toBe(before);
  });

  it('answers NOT_FOUND for unknown sales, orders and routes', async () => {
    const before = await head();
    expectError(await client.request('GET', '/sales/no-such-sale'), 404, 'NOT_FOUND');
    expectError(await client.request('GET', '/sales/no-such-sale/access', { token: buyer }), 404, 'NOT_FOUND');
    expectError(
      await client.request('POST', '/sales/no-such-sale/reservations', {
        token: buyer,
        headers: { 'idempotency-key': 'unknown-sale-0001' },
        body: { quantity: 1, purchaseToken },
      }),
      404,
      'NOT_FOUND',
    );
    expectError(await client.request('GET', '/orders/00000000-0000-0000-0000-000000000000', { token: buyer }), 404, 'NOT_FOUND');
    expectError(await client.request('GET', '/no/such/route'), 404, 'NOT_FOUND');
    expect(await head()).toBe(before);
  });

  it('sends the security headers of a JSON API on answers and on errors', async () => {
    for (const res of [await client.request('GET', `/sales/${saleId}`), await client.request('GET', '/no/such/route')]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    }
  });

  it('does not offer the dev-token route outside demo mode', async () => {
    expectError(await client.request('POST', '/auth/dev-token', { body: { userId: 'x' } }), 404, 'NOT_FOUND');
  });
});
