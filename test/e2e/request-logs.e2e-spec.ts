import { createHmac } from 'node:crypto';
import { ApiClient, ApiResponse, openSale } from './support/client';
import { readRecordedLog } from './support/event-log';
import { RawConnection } from './support/raw-http';
import { ServerProcess } from './support/server';
import { eventually } from '../support/eventually';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The JSON lines the api printed, parsed (anything else it printed is left out). */
const logLines = (output: string): Array<Record<string, any>> =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);

/** The api's lines written under `requestId`, once one of them says `msg` (a line may reach the pipe after the answer). */
const linesOf = async (server: ServerProcess, requestId: string, msg: string): Promise<Array<Record<string, any>>> => {
  const lines = () => logLines(server.logs).filter((l) => l.requestId === requestId);
  await eventually(`a "${msg}" line of request ${requestId}`, () => lines().some((l) => l.msg === msg), { seen: lines });
  return lines();
};

/**
 * API.md "Operations": a request may carry X-Request-Id and the answer returns it (or a new one). The line logged for
 * its answer carries it, the events it appends carry it as their correlationId, and nothing secret is ever logged —
 * checked here on a run at debug level, where the most is logged.
 */
describe('request ids, log lines and event correlation', () => {
  const server = new ServerProcess({ label: 'logs', env: { LOG_LEVEL: 'debug' } });
  let client: ApiClient;
  let admin: string;
  let buyer: string;
  let saleId: string;

  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
    admin = client.token('admin-1', ['admin']);
    buyer = client.token('buyer-1');
    server.forbidInLogs('the admin bearer token', admin);
    server.forbidInLogs('the buyer bearer token', buyer);
    const created = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ perUserLimit: 2 }), headers: { 'x-request-id': 'create-sale-1' } });
    expect(created.status).toBe(201);
    saleId = created.body.id as string;
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  const purchaseToken = async (token: string): Promise<string> => {
    const access = await client.request('GET', `/sales/${saleId}/access`, { token });
    expect(access.status).toBe(200);
    return access.body.purchaseToken as string;
  };

  const reserve = async (token: string, headers: Record<string, string>, path = `/sales/${saleId}/reservations`): Promise<ApiResponse> =>
    client.request('POST', path, { token, headers: { 'idempotency-key': `key-${Math.random()}`, ...headers }, body: { quantity: 1, purchaseToken: await purchaseToken(token) } });

  it("logs a reservation under the client's request id, and its events carry that id as their correlationId", async () => {
    const placed = await reserve(buyer, { 'x-request-id': 'reserve-e2e-1' });
    expect(placed.status).toBe(201);
    expect(placed.headers['x-request-id']).toBe('reserve-e2e-1');
    const orderId = placed.body.orderId as string;

    const lines = await linesOf(server, 'reserve-e2e-1', 'reservation answered');
    const answered = lines.filter((l) => l.msg === 'reservation answered');
    // The purchase route's own line is at debug: a sale's crowd writes nothing per request at info.
    expect(answered).toEqual([expect.objectContaining({ level: 20, status: 201, outcome: orderId, saleId, userId: 'buyer-1' })]);
    // Lines written deep inside the use case (the gate rebuilt for the sale's first reservation) do not carry it: the
    // id is passed by hand to the pipeline's own lines and the command's events, not kept per request (README).

    const events = (await readRecordedLog(server)).filter((e) => JSON.stringify(e.data).includes(orderId));
    expect(events.map((e) => e.type).sort()).toEqual(['OrderPlaced', 'QuotaClaimed', 'StockReserved']);
    expect(events.map((e) => e.metadata.correlationId)).toEqual(['reserve-e2e-1', 'reserve-e2e-1', 'reserve-e2e-1']);
    const scheduled = (await readRecordedLog(server)).find((e) => e.type === 'SaleScheduled' && e.data.saleId === saleId);
    expect(scheduled?.metadata.correlationId).toBe('create-sale-1');
  });

  it('carries the webhook’s request id into the payment’s events', async () => {
    const placed = await reserve(buyer, {});
    const orderId = placed.body.orderId as string;
    const rawBody = JSON.stringify({ paymentId: `pay-${orderId}`, orderId, amount: 1999, status: 'succeeded' });
    const signature = createHmac('sha256', server.webhookSecret).update(rawBody).digest('hex');
    const paid = await client.request('POST', '/payments/webhook', { rawBody, headers: { 'content-type': 'application/json', 'x-signature': signature, 'x-request-id': 'webhook-1' } });
    expect([paid.status, paid.headers['x-request-id']]).toEqual([200, 'webhook-1']);
    const events = (await readRecordedLog(server)).filter((e) => e.type === 'PaymentReceived' || e.type === 'OrderPaid');
    expect(events.filter((e) => e.data.orderId === orderId).map((e) => [e.type, e.metadata.correlationId])).toEqual([
      ['PaymentReceived', 'webhook-1'],
      ['OrderPaid', 'webhook-1'],
    ]);
    // The debug line of a Nest route names the route's pattern, never its URL.
    expect(await linesOf(server, 'webhook-1', 'request answered')).toEqual([
      expect.objectContaining({ level: 20, msg: 'request answered', method: 'POST', route: '/payments/webhook', status: 200 }),
    ]);
  });

  it('carries a cancellation’s request id into its events', async () => {
    const owner = client.token('buyer-3');
    server.forbidInLogs('the third buyer bearer token', owner);
    const orderId = (await reserve(owner, {})).body.orderId as string;
    const cancelled = await client.request('POST', `/orders/${orderId}/cancel`, { token: owner, headers: { 'x-request-id': 'cancel-1' } });
    expect([cancelled.status, cancelled.headers['x-request-id']]).toEqual([200, 'cancel-1']);
    const events = (await readRecordedLog(server)).filter((e) => (e.type === 'OrderCancelled' || e.type === 'StockReleased') && JSON.stringify(e.data).includes(orderId));
    expect(events.map((e) => [e.type, e.metadata.correlationId]).sort()).toEqual([
      ['OrderCancelled', 'cancel-1'],
      ['StockReleased', 'cancel-1'],
    ]);
  });

  it('returns X-Request-Id on every answer: sent or made, on each way in, refused or not', async () => {
    const sent = { 'x-request-id': 'mine-123' };
    const answers: Array<[string, ApiResponse]> = [
      ['a Nest route', await client.request('GET', `/sales/${saleId}`, { headers: sent })],
      ['a 404', await client.request('GET', '/no/such/route', { headers: sent })],
      ['a refused admin route', await client.request('POST', '/admin/sales', { token: buyer, body: {}, headers: sent })],
      ['the fast path, refused', await client.request('POST', `/sales/${saleId}/reservations`, { token: buyer, body: {}, headers: sent })],
      ['the Fastify reservation route', await reserve(buyer, sent, `/sales/${saleId}/reservations?via=fastify`)],
      ['a badly encoded URL (Fastify framework error)', await client.request('GET', '/orders/%ff', { token: buyer, headers: sent })],
    ];
    expect(answers.map(([what, res]) => [what, res.headers['x-request-id']])).toEqual(answers.map(([what]) => [what, 'mine-123']));

    const made = [await client.request('GET', `/sales/${saleId}`), await client.request('POST', `/sales/${saleId}/reservations`, { token: buyer, body: {} })];
    for (const res of made) expect(res.headers['x-request-id']).toMatch(UUID);
    expect(made[0]?.headers['x-request-id']).not.toBe(made[1]?.headers['x-request-id']);

    // An id that is too long or not a plain token is replaced, never echoed.
    for (const bad of ['x'.repeat(129), 'has space', 'quote"d', '{"level":60}']) {
      const res = await client.request('GET', `/sales/${saleId}`, { headers: { 'x-request-id': bad } });
      expect(res.headers['x-request-id']).toMatch(UUID);
    }
  });

  it('returns one on what the HTTP edge answers before routing, too', async () => {
    const connection = new RawConnection(server.port);
    await connection.connected;
    connection.write('GET /sales HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n');
    const [answer] = await connection.waitFor('the refusal of a malformed request', (r) => r.length > 0, 10_000);
    connection.destroy();
    expect(answer?.status).toBe(400);
    expect(answer?.headers['x-request-id']).toMatch(UUID);
  });

  it('logs no secret and no token, even refused ones, at debug level', async () => {
    const forged = new ApiClient(server.baseUrl, 'not-the-secret-not-the-secret-not-the', 1);
    const wrongKey = forged.token('buyer-1');
    server.forbidInLogs('a token signed with another key', wrongKey);
    expect((await client.request('GET', `/sales/${saleId}/access`, { token: wrongKey })).status).toBe(401);
    expect((await client.request('POST', `/sales/${saleId}/reservations`, { token: wrongKey, body: {}, headers: { 'idempotency-key': 'key-00000009' } })).status).toBe(401);
    const rawBody = JSON.stringify({ paymentId: 'p-x', orderId: 'o-x', amount: 1, status: 'succeeded' });
    expect((await client.request('POST', '/payments/webhook', { rawBody, headers: { 'content-type': 'application/json', 'x-signature': 'ab'.repeat(32) } })).status).toBe(401);
    await forged.destroy();

    // Plenty was logged (every request answered has its debug line), and none of it was a secret or a token.
    const answeredLines = () => logLines(server.logs).filter((l) => l.msg === 'request answered' || l.msg === 'reservation answered').length;
    await eventually('the debug lines of the requests answered so far', () => answeredLines() >= 20, { seen: answeredLines });
    expect(server.logLeaks).toEqual([]);
  });
});
