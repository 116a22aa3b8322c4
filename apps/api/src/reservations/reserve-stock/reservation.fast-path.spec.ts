import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PurchaseRequest } from '../../admission/access-request';
import { loadConfig } from '@flash/runtime';
import { ClientAddresses } from '../../http/client-address';
import { RawJsonBody } from '../../http/json-body';
import { ReservationFastPath } from './reservation.fast-path';
import { ReservationPipeline } from './reservation.pipeline';

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

const ANSWER = { status: 201, headers: { 'content-type': 'application/json; charset=utf-8', 'x-answer': 'from-the-pipeline' }, payload: '{"orderId":"o1"}' };

/** The fast path over a stand-in pipeline that records what it is handed and gives ANSWER back. */
const setUp = (trustedProxies: readonly string[] = []) => {
  const begun: unknown[] = [];
  const seen: Array<{ request: PurchaseRequest; raw: unknown }> = [];
  const pipeline = {
    begin: (response: unknown) => begun.push(response),
    answer: async (request: PurchaseRequest, raw: unknown) => (seen.push({ request, raw }), ANSWER),
  } as unknown as ReservationPipeline;
  const fastPath = new ReservationFastPath(loadConfig({ JWT_SECRET: 'x'.repeat(32), PAYMENT_WEBHOOK_SECRET: 'w'.repeat(32), BODY_LIMIT_BYTES: '1024' }), pipeline, new ClientAddresses(trustedProxies));
  const send = async (req: ReturnType<typeof incoming>, { body = BODY, hangUp = false } = {}) => {
    const res = response();
    const taken = fastPath.handle(req as IncomingMessage, res as unknown as ServerResponse);
    if (taken) {
      req.emit('data', Buffer.from(body));
      res.destroyed = hangUp;
      req.emit('end');
      await new Promise((r) => setImmediate(r));
    }
    return { taken, res };
  };
  return { send, seen, begun };
};

describe('ReservationFastPath', () => {
  it('hands an ordinary reservation to the pipeline from its first byte, and writes its answer as it is', async () => {
    const t = setUp();
    const { taken, res } = await t.send(incoming());

    expect(taken).toBe(true);
    expect(t.begun).toEqual([res]);
    expect(t.seen[0]?.request).toMatchObject({ ip: '10.0.0.7', params: { id: 'sale-1' }, url: '/sales/sale-1/reservations' });
    expect(t.seen[0]?.raw).toBeInstanceOf(RawJsonBody);
    expect((t.seen[0]?.raw as RawJsonBody).text).toBe(BODY);
    expect({ status: res.status, headers: res.headers, body: res.body }).toEqual({ status: 201, headers: ANSWER.headers, body: ANSWER.payload });
  });

  it('sees the client TRUST_PROXY says: the socket peer unless it is a trusted proxy, never an entry the client wrote', async () => {
    const headers = { 'content-type': 'application/json', 'content-length': String(BODY.length), 'x-forwarded-for': '198.51.100.1, 203.0.113.7' };
    const ipSeen = async (trusted: readonly string[]) => {
      const t = setUp(trusted);
      await t.send(incoming({ headers }));
      return t.seen[0]?.request.ip;
    };
    // Off: X-Forwarded-For is ignored, whatever it says.
    expect(await ipSeen([])).toBe('10.0.0.7');
    // The peer is a trusted proxy: the address it appended (the rightmost) is the client; the left one is the client's own claim.
    expect(await ipSeen(['10.0.0.0/8'])).toBe('203.0.113.7');
    // A peer that is not among the trusted proxies is the client itself.
    expect(await ipSeen(['192.168.0.1'])).toBe('10.0.0.7');
  });

  it('writes nothing on a connection the client has already closed', async () => {
    const t = setUp();
    const { res } = await t.send(incoming(), { hangUp: true });
    expect(t.seen).toHaveLength(1);
    expect(res.status).toBeUndefined();
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
    const t = setUp();
    const req = incoming(overrides);
    const { taken, res } = await t.send(req);

    expect(taken).toBe(false);
    expect(req.listenerCount('data')).toBe(0);
    expect(res.status).toBeUndefined();
    expect(t.begun).toEqual([]);
  });
});
