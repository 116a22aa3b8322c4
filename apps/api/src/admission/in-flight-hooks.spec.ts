import { OverloadShedder } from '@flash/access';
import Fastify, { FastifyInstance } from 'fastify';
import { OWN_PLUMBING } from '../http/own-plumbing';
import { installInFlightHooks } from './in-flight-hooks';

/** A bare Fastify with the hooks, an ordinary route and a route of its own plumbing, each noting the in-flight count. */
const setUp = async () => {
  const shedder = new OverloadShedder({}, { now: () => 0, sampler: { p99Ms: () => 0, reset: () => undefined, close: () => undefined } });
  const fastify: FastifyInstance = Fastify();
  installInFlightHooks(fastify, shedder);
  const seen: Record<string, number> = {};
  fastify.post('/ordinary', async () => {
    seen.ordinary = shedder.inFlight;
    return {};
  });
  fastify.post('/own', { config: OWN_PLUMBING }, async () => {
    seen.own = shedder.inFlight;
    return {};
  });
  await fastify.ready();
  return { fastify, shedder, seen };
};

describe('access hooks', () => {
  it('counts a request in flight from its first byte to its answer', async () => {
    const { fastify, shedder, seen } = await setUp();
    await fastify.inject({ method: 'POST', url: '/ordinary' });
    expect(seen.ordinary).toBe(1);
    expect(shedder.inFlight).toBe(0);
    await fastify.inject({ method: 'GET', url: '/no/such/route' });
    expect(shedder.inFlight).toBe(0);
    await fastify.close();
  });

  it('leaves a route of its own plumbing to count its requests itself', async () => {
    const { fastify, shedder, seen } = await setUp();
    await fastify.inject({ method: 'POST', url: '/own' });
    expect(seen.own).toBe(0);
    expect(shedder.inFlight).toBe(0);
    await fastify.close();
  });
});
