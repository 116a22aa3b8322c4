import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { OverloadShedder } from '@flash/access';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ownsItsPlumbing } from '../http/own-plumbing';

const IN_FLIGHT = Symbol('flash:in-flight');
type CountedRequest = FastifyRequest & { [IN_FLIGHT]?: boolean };

/**
 * Fastify hooks around every request: the in-flight count the shedder reads, from the first byte to the last,
 * aborted requests included. A route of its own plumbing (the reservation pipeline) counts its requests itself.
 */
export const installInFlightHooks = (fastify: FastifyInstance, shedder: OverloadShedder): void => {
  const release = (request: CountedRequest): void => {
    if (!request[IN_FLIGHT]) return;
    request[IN_FLIGHT] = false;
    shedder.leave();
  };
  fastify.addHook('onRequest', (request: CountedRequest, _reply, done) => {
    if (!ownsItsPlumbing(request)) {
      request[IN_FLIGHT] = true;
      shedder.enter();
    }
    done();
  });
  fastify.addHook('onResponse', (request: CountedRequest, _reply, done) => {
    release(request);
    done();
  });
  // A client that hangs up before its answer gets no onResponse.
  fastify.addHook('onRequestAbort', (request: CountedRequest, done) => {
    release(request);
    done();
  });
};

/** Installs the hooks while Nest initialises, before Fastify is ready (hooks reach every route at ready). */
@Injectable()
export class InFlightHooks implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly shedder: OverloadShedder,
  ) {}

  onModuleInit(): void {
    installInFlightHooks(this.adapterHost.httpAdapter.getInstance<FastifyInstance>(), this.shedder);
  }

  onApplicationShutdown(): void {
    this.shedder.close();
  }
}
