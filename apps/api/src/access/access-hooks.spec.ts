import { OverloadShedder, RecentIdempotencyKeys, RejectionRecorder } from '@flash/access';
import Fastify, { FastifyInstance } from 'fastify';
import { installAccessHooks, RESERVATIONS_ROUTE } from './access-hooks';

const envelope = (code: string) => ({ error: { code, message: code.toLowerCase(), retryable: false } });

/** Counts what the hooks report, by sale and code. */
const countingRecorder = () => {
  const counts: Record<string, Record<string, number>> = {};
  const recorder: RejectionRecorder & { snapshot(): typeof counts } = {
    record: (saleId, code) => {
      const bySale = (counts[saleId] ??= {});
      bySale[code] = (bySale[code] ?? 0) + 1;
    },
    snapshot: () => counts,
  };
  return recorder;
};

/** A bare Fastify with the hooks and stand-ins for the routes they look at. */
const setUp = async () => {
  const shedder = new OverloadShedder({}, { now: () => 0, sampler: { p99Ms: () => 0, reset: () => undefined, close: () => undefined } });
  const rejections = countingRecorder();
  const knownKeys = new RecentIdempotencyKeys();
  const fastify: FastifyInstance = Fastify();
  installAccessHooks(fastify, { shedder, rejections, knownKeys, saleExists: (saleId) => saleId !== 'no-such-sale' });
  let inFlightSeen = -1;
  fastify.post(RESERVATIONS_ROUTE, async (request, reply) => {
    inFlightSeen = shedder.inFlight;
    (request as unknown as { principal: { userId: string } }).principal = { userId: 'buyer-1' };
    const { outcome } = request.query as { outcome?: string };
    if (outcome === undefined) return reply.status(201).send({ orderId: 'o1' });
    return reply.status(outcome === 'RATE_LIMITED' ? 429 : 409).send(envelope(outcome));
  });
  fastify.get('/sales/:id/access', async (_request, reply) => reply.status(403).send(envelope('BLOCKED')));
  await fastify.ready();
  const reserve = (saleId: string, outcome?: string) =>
    fastify.inject({
      method: 'POST',
      url: `/sales/${saleId}/reservations${outcome === undefined ? '' : `?outcome=${outcome}`}`,
      headers: { 'idempotency-key': 'key-00000001' },
    });
  return { fastify, shedder, rejections, knownKeys, reserve, inFlightSeen: () => inFlightSeen };
};

describe('access hooks', () => {
  it('counts every refused reservation by sale and code', async () => {
    const { fastify, rejections, reserve } = await setUp();
    await reserve('sale-a', 'SOLD_OUT');
    await reserve('sale-a', 'SOLD_OUT');
    await reserve('sale-a', 'RATE_LIMITED');
    await reserve('sale-b', 'LIMIT_EXCEEDED');
    expect(rejections.snapshot()).toEqual({ 'sale-a': { SOLD_OUT: 2, RATE_LIMITED: 1 }, 'sale-b': { LIMIT_EXCEEDED: 1 } });
    await fastify.close();
  });

  it('counts neither other routes nor sales that do not exist', async () => {
    const { fastify, rejections, reserve } = await setUp();
    await fastify.inject({ method: 'GET', url: '/sales/sale-a/access' });
    await reserve('no-such-sale', 'NOT_FOUND');
    expect(rejections.snapshot()).toEqual({});
    await fastify.close();
  });

  it('remembers the keys answered with a reservation, for the user who made it', async () => {
    const { fastify, knownKeys, reserve } = await setUp();
    await reserve('sale-a', 'SOLD_OUT');
    expect(knownKeys.has('sale-a', 'buyer-1', 'key-00000001')).toBe(false);
    await reserve('sale-a');
    expect(knownKeys.has('sale-a', 'buyer-1', 'key-00000001')).toBe(true);
    await fastify.close();
  });

  it('counts a request in flight from its first byte to its answer', async () => {
    const { fastify, shedder, reserve, inFlightSeen } = await setUp();
    await reserve('sale-a');
    expect(inFlightSeen()).toBe(1);
    expect(shedder.inFlight).toBe(0);
    await fastify.inject({ method: 'GET', url: '/no/such/route' });
    expect(shedder.inFlight).toBe(0);
    await fastify.close();
  });
});
