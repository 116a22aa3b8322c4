import { isDeepStrictEqual } from 'node:util';
import { deriveKey, PurchaseTokens } from '@flash/access';
import { eventually } from '../support/eventually';
import { ApiClient, ApiResponse, openSale } from './support/client';
import { ServerProcess } from './support/server';

/**
 * The reservation route has two ways in: the fast path in front of Fastify takes requests of the ordinary shape,
 * and Fastify's route answers every other shape (here: the same request with a query string, which the fast path
 * leaves alone). Whatever the outcome, both must answer alike: status, envelope, headers, and the order itself.
 */
describe('POST /sales/:id/reservations: the fast path and the Fastify route answer alike', () => {
  const server = new ServerProcess({ label: 'paths' });
  let client: ApiClient;
  let admin: string;

  const HEADERS = [
    'content-type',
    'x-content-type-options',
    'x-frame-options',
    'content-security-policy',
    'strict-transport-security',
    'referrer-policy',
    'cross-origin-resource-policy',
    'retry-after',
  ];
  const comparable = (res: ApiResponse) => ({
    status: res.status,
    code: (res.body as { error?: { code?: string } } | undefined)?.error?.code,
    headers: Object.fromEntries(HEADERS.map((h) => [h, res.headers[h]])),
  });

  const sale = async (overrides: Record<string, unknown> = {}): Promise<string> =>
    (await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: 100, shards: 2, perUserLimit: 1, ...overrides }) })).body.id;
  const tokenFor = async (saleId: string, bearer: string): Promise<string> =>
    (await client.request('GET', `/sales/${saleId}/access`, { token: bearer })).body.purchaseToken;

  /** The same attempt through both ways in, each as its own buyer (or the given one) so that neither sees the other's state. */
  const both = async (
    saleId: string,
    attempt: (path: string, buyer: string) => Promise<ApiResponse>,
    buyers: [string, string] = [`fast-${Math.random()}`.slice(0, 20), `slow-${Math.random()}`.slice(0, 20)],
  ): Promise<[ApiResponse, ApiResponse]> => {
    const base = `/sales/${saleId}/reservations`;
    return [await attempt(base, buyers[0]), await attempt(`${base}?via=fastify`, buyers[1])];
  };

  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
    admin = client.token('admin-paths', ['admin']);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('a reservation: 201 with the same body shape, then 200 with the same body for the same key', async () => {
    const saleId = await sale();
    const reserve = async (path: string, buyer: string) => {
      const bearer = client.token(buyer);
      const purchaseToken = await tokenFor(saleId, bearer);
      const first = await client.request('POST', path, { token: bearer, headers: { 'idempotency-key': `key-${buyer}` }, body: { quantity: 1, purchaseToken } });
      const again = await client.request('POST', path, { token: bearer, headers: { 'idempotency-key': `key-${buyer}` }, body: { quantity: 1, purchaseToken } });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      return first;
    };
    const [fast, slow] = await both(saleId, reserve);

    expect(comparable(fast)).toEqual(comparable(slow));
    expect(fast.status).toBe(201);
    expect(Object.keys(fast.body as object).sort()).toEqual(Object.keys(slow.body as object).sort());
    expect(fast.body).toMatchObject({ saleId, quantity: 1, status: 'reserved' });
  });

  it.each([
    ['no bearer token', 401, (bearer: string, purchaseToken: string) => ({ headers: { 'idempotency-key': 'key-00000001' }, body: { quantity: 1, purchaseToken }, bearer: '' })],
    ['no Idempotency-Key', 400, (_bearer: string, purchaseToken: string) => ({ headers: {}, body: { quantity: 1, purchaseToken } })],
    ['a body that is not JSON', 400, () => ({ headers: { 'idempotency-key': 'key-00000002' }, rawBody: '{"quantity":' })],
    ['an unknown field', 400, (_bearer: string, purchaseToken: string) => ({ headers: { 'idempotency-key': 'key-00000003' }, body: { quantity: 1, purchaseToken, extra: 1 } })],
    ['a quantity above the limit', 400, (_bearer: string, purchaseToken: string) => ({ headers: { 'idempotency-key': 'key-00000004' }, body: { quantity: 2, purchaseToken } })],
    [
      'a body naming a key twice',
      400,
      (_bearer: string, purchaseToken: string) => ({ headers: { 'idempotency-key': 'key-00000006' }, rawBody: `{"quantity":1,"purchaseToken":"${purchaseToken}","quantity":1}` }),
    ],
    [
      'a key named twice under another spelling',
      400,
      (_bearer: string, purchaseToken: string) => ({ headers: { 'idempotency-key': 'key-00000007' }, rawBody: `{"quantity":1,"purchaseToken":"${purchaseToken}","q\\u0075antity":2}` }),
    ],
    ['a purchase token of someone else', 403, () => ({ headers: { 'idempotency-key': 'key-00000005' }, body: { quantity: 1, purchaseToken: 'not-a-token' } })],
  ])('%s: %i in the same envelope', async (_label, status, build) => {
    const saleId = await sale();
    const attempt = async (path: string, buyer: string) => {
      const bearer = client.token(buyer);
      const { headers, body, rawBody, bearer: override } = build(bearer, await tokenFor(saleId, bearer)) as {
        headers: Record<string, string>;
        body?: unknown;
        rawBody?: string;
        bearer?: string;
      };
      return client.request('POST', path, { ...(override === '' ? {} : { token: bearer }), headers, ...(rawBody === undefined ? { body } : { rawBody }) });
    };
    const [fast, slow] = await both(saleId, attempt);

    expect(fast.status).toBe(status);
    expect(comparable(fast)).toEqual(comparable(slow));
    expect(fast.body).toEqual(slow.body);
  });

  it('takes the bearer scheme in any case (RFC 7235): bearer and BEARER reserve on both ways in', async () => {
    const saleId = await sale();
    for (const scheme of ['bearer', 'BEARER']) {
      const reserve = async (path: string, buyer: string) => {
        const bearer = client.token(buyer);
        const purchaseToken = await tokenFor(saleId, bearer);
        return client.request('POST', path, { headers: { authorization: `${scheme} ${bearer}`, 'idempotency-key': `key-${buyer}` }, body: { quantity: 1, purchaseToken } });
      };
      const [fast, slow] = await both(saleId, reserve);
      expect([fast.status, slow.status]).toEqual([201, 201]);
      expect(comparable(fast)).toEqual(comparable(slow));
    }
  });

  it('sold out, limit reached and unknown sale: the same refusals', async () => {
    const saleId = await sale({ totalStock: 1, shards: 1 });
    const winner = client.token('winner');
    const won = await client.request('POST', `/sales/${saleId}/reservations`, {
      token: winner,
      headers: { 'idempotency-key': 'winner-key-1' },
      body: { quantity: 1, purchaseToken: await tokenFor(saleId, winner) },
    });
    expect(won.status).toBe(201);
    // Once sold out, GET /access answers SOLD_OUT: mint the token as the server does (same key derivation).
    const tokens = new PurchaseTokens(deriveKey(server.jwtSecret, 'purchase-token'));
    const attempt = (key: string, id = saleId) => async (path: string, buyer: string) => {
      const bearer = client.token(buyer);
      const purchaseToken = tokens.issue(buyer, id, Date.now()).purchaseToken;
      return client.request('POST', path.replace(/\/sales\/[^/]+\//, `/sales/${id}/`), { token: bearer, headers: { 'idempotency-key': key }, body: { quantity: 1, purchaseToken } });
    };

    const soldOut = await both(saleId, attempt('late-key-01'));
    expect(soldOut.map((r) => r.body.error.code)).toEqual(['SOLD_OUT', 'SOLD_OUT']);
    expect(comparable(soldOut[0])).toEqual(comparable(soldOut[1]));

    const roomy = await sale();
    const buyer = client.token('limited');
    const firstKey = { token: buyer, headers: { 'idempotency-key': 'limited-key-1' }, body: { quantity: 1, purchaseToken: await tokenFor(roomy, buyer) } };
    expect((await client.request('POST', `/sales/${roomy}/reservations`, firstKey)).status).toBe(201);
    const limit = await both(roomy, attempt('second-key', roomy), ['limited', 'limited']);
    expect(limit.map((r) => r.body.error.code)).toEqual(['LIMIT_EXCEEDED', 'LIMIT_EXCEEDED']);
    expect(comparable(limit[0])).toEqual(comparable(limit[1]));

    const unknown = await both(saleId, attempt('unknown-key', 'no-such-sale'));
    expect(unknown.map((r) => r.status)).toEqual([404, 404]);
    expect(comparable(unknown[0])).toEqual(comparable(unknown[1]));
  });

  it("counts every refusal of either way in exactly once by its code, those Fastify makes before the route's steps included", async () => {
    const saleId = await sale();
    const buyer = client.token(`counted-${Math.random()}`.slice(0, 20));
    const base = `/sales/${saleId}/reservations`;
    const refused = [
      // The steps' own refusals, on both ways in.
      await client.request('POST', base, { token: buyer, headers: { 'idempotency-key': 'counted-key-1' }, body: { quantity: 1, purchaseToken: 'not-a-token' } }),
      await client.request('POST', `${base}?via=fastify`, { token: buyer, headers: { 'idempotency-key': 'counted-key-2' }, body: { quantity: 1, purchaseToken: 'not-a-token' } }),
      // Refused by Fastify before the handler (its body limit), so answered through the route's error handler.
      await client.request('POST', base, { token: buyer, headers: { 'idempotency-key': 'counted-key-3' }, rawBody: JSON.stringify({ quantity: 1, purchaseToken: 'x'.repeat(20_000) }) }),
      // Another media type: Fastify's route, refused by the body step after authentication.
      await client.request('POST', base, { token: buyer, headers: { 'idempotency-key': 'counted-key-4', 'content-type': 'text/plain' }, rawBody: 'quantity=1' }),
    ];
    expect(refused.map((r) => [r.status, r.body.error.code, r.headers['x-content-type-options']])).toEqual([
      [403, 'INVALID_PURCHASE_TOKEN', 'nosniff'],
      [403, 'INVALID_PURCHASE_TOKEN', 'nosniff'],
      [413, 'PAYLOAD_TOO_LARGE', 'nosniff'],
      [400, 'VALIDATION_FAILED', 'nosniff'],
    ]);
    let seen: unknown;
    await eventually(
      'the four refusals in the sale summary',
      async () => {
        seen = (await client.request('GET', `/analytics/sales/${saleId}/summary`, { token: admin })).body.rejections;
        return isDeepStrictEqual(seen, { INVALID_PURCHASE_TOKEN: 2, PAYLOAD_TOO_LARGE: 1, VALIDATION_FAILED: 1 });
      },
      { intervalMs: 100, seen: () => seen },
    );
  });

  it('both count in the same request metric', async () => {
    const metrics = String((await client.request('GET', '/metrics')).body);
    expect(metrics).toMatch(/http_requests_total\{method="POST",route="\/sales\/:id\/reservations",code="201"\} [1-9]/);
    expect(metrics).toMatch(/http_requests_total\{method="POST",route="\/sales\/:id\/reservations",code="409"\} [1-9]/);
  });
});
