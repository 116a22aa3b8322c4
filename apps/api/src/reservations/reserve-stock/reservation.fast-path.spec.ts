import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { AccessHooks } from '../../access/access-hooks';
import { PurchaseRequest } from '../../access/access-request';
import { loadConfig } from '@flash/runtime';
import { ApiError } from '../../http/error-catalogue';
import { RawJsonBody } from '../../http/json-body';
import { HotPathCounters } from '../../metrics/hot-path-counters';
import { ReservationFastPath } from './reservation.fast-path';
import { ReservationRoute } from './reservation.route';

const BODY = '{"quantity":1,"purchaseToken":"t"}';

/** An incoming request as Node's parser hands it over: headers known, body still to come. */
const incoming = (overrides: { method?: string; url?: string; headers?: Record<string, string> } = {}) => {
  const req = new EventEmitter() as EventEmitter & Partial<IncomingMessage>;
  Object.assign(req, {
    method: overrides.method ?? 'POST',
    url: overrides.url ?? '/sales/sale-1/reservations',
    headers: overrides.headers ?? { 'content-type': 'application/json', 'content-length': String(BODY.length), authorization: 'Bearer x', 'idempotency-key': 'key-00000001' },
    socket: { remoteAddress: '10.0.0.7' },
  });
  return req;
};

const response = () => {
  const res = new EventEmitter() as EventEmitter & { destroyed: boolean; status?: number; headers?: Record<string, string>; body?: string };
  res.destroyed = false;
  Object.assign(res, {
    writeHead: (status: number, headers: Record<string, string>) => {
      res.status = status;
      res.headers = headers;
    },
    end: (body: string) => {
      res.body = body;
      res.emit('close');
    },
  });
  return res;
};

const setUp = (reserve: (request: PurchaseRequest, raw: unknown) => Promise<unknown>) => {
  const seen: Array<{ request: PurchaseRequest; raw: unknown }> = [];
  const noted: Array<{ status: number; payload: string }> = [];
  let inFlight = 0;
  const route = { reserve: async (request: PurchaseRequest, raw: unknown) => (seen.push({ request, raw }), reserve(request, raw)) } as unknown as ReservationRoute;
  const access = {
    enter: () => inFlight++,
    leave: () => inFlight--,
    noteReservationAnswer: (_r: PurchaseRequest, status: number, payload: string) => noted.push({ status, payload }),
  } as unknown as AccessHooks;
  const counters = new HotPathCounters();
  const fastPath = new ReservationFastPath(loadConfig({ JWT_SECRET: 'x'.repeat(32), PAYMENT_WEBHOOK_SECRET: 'w'.repeat(32), BODY_LIMIT_BYTES: '1024' }), route, access, counters, pino({ enabled: false }));
  const send = async (req: ReturnType<typeof incoming>, body = BODY, closing = false) => {
    const res = response();
    const taken = fastPath.handle(req as IncomingMessage, res as unknown as ServerResponse, () => closing);
    if (taken) {
      req.emit('data', Buffer.from(body));
      req.emit('end');
      await new Promise((r) => setImmediate(r));
    }
    return { taken, res };
  };
  return { send, seen, noted, counters, inFlight: () => inFlight };
};

describe('ReservationFastPath', () => {
  it('takes an ordinary reservation and answers it as the Fastify route would', async () => {
    const t = setUp(async () => ({ status: 201, body: { orderId: 'o1' } }));
    const { taken, res } = await t.send(incoming());

    expect(taken).toBe(true);
    expect(t.seen[0]?.request).toMatchObject({ ip: '10.0.0.7', params: { id: 'sale-1' }, url: '/sales/sale-1/reservations' });
    expect(t.seen[0]?.raw).toBeInstanceOf(RawJsonBody);
    expect((t.seen[0]?.raw as RawJsonBody).text).toBe(BODY);
    expect(res.status).toBe(201);
    expect(res.body).toBe('{"orderId":"o1"}');
    const headers = Object.fromEntries(Object.entries(res.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    expect(headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'content-length': '16', 'x-content-type-options': 'nosniff' });
    expect(t.noted).toEqual([{ status: 201, payload: '{"orderId":"o1"}' }]);
    expect(t.inFlight()).toBe(0);
    expect(await t.counters.registry.getSingleMetricAsString('http_requests_total')).toContain('route="/sales/:id/reservations",code="201"} 1');
  });

  it('answers errors in the envelope, with Retry-After on 503 and 429', async () => {
    const t = setUp(async () => {
      throw new ApiError('OVERLOADED', 'busy', { retryAfterMs: 2500 });
    });
    const { res } = await t.send(incoming());

    expect(res.status).toBe(503);
    expect(JSON.parse(res.body ?? '')).toEqual({ error: { code: 'OVERLOADED', message: 'busy', retryable: true, retryAfterMs: 2500 } });
    expect(res.headers?.['retry-after']).toBe('3');
    expect(t.noted[0]?.status).toBe(503);
  });

  it('tells the client to hang up once the server is closing, and leaves new requests to Fastify then', async () => {
    const t = setUp(async () => ({ status: 201, body: {} }));
    expect((await t.send(incoming(), BODY, true)).taken).toBe(false);
  });

  it.each([
    ['another method', { method: 'PUT' }],
    ['a query string', { url: '/sales/sale-1/reservations?x=1' }],
    ['a percent-encoded sale id', { url: '/sales/sale%201/reservations' }],
    ['a sale id over 100 characters', { url: `/sales/${'s'.repeat(101)}/reservations` }],
    ['another path', { url: '/sales/sale-1/reservations/extra' }],
    ['no Content-Type', { headers: { 'content-length': '2' } }],
    ['another media type', { headers: { 'content-type': 'text/plain', 'content-length': '2' } }],
    ['another charset', { headers: { 'content-type': 'application/json; charset=latin1', 'content-length': '2' } }],
    ['no Content-Length (chunked)', { headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }],
    ['a body over the limit', { headers: { 'content-type': 'application/json', 'content-length': '1025' } }],
    ['Expect: 100-continue', { headers: { 'content-type': 'application/json', 'content-length': '2', expect: '100-continue' } }],
  ])('leaves %s to Fastify, untouched', async (_label, overrides) => {
    const t = setUp(async () => ({ status: 201, body: {} }));
    const req = incoming(overrides);
    const { taken, res } = await t.send(req);

    expect(taken).toBe(false);
    expect(req.listenerCount('data')).toBe(0);
    expect(res.status).toBeUndefined();
    expect(t.inFlight()).toBe(0);
  });
});
