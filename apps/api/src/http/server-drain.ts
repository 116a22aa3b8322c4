import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { ownsItsPlumbing } from './own-plumbing';

/**
 * Whether the server has begun to drain (Fastify's preClose, on SIGTERM). From then on every answer tells its client
 * to hang up (`connection: close`), so that keep-alive connections do not hold the shutdown open after their last
 * answer; the HTTP edge refuses requests that arrive on them (bootstrap.ts). Routes of their own plumbing read
 * `closing` when they put their answer together; every other route gets the header from the onSend hook here.
 */
@Injectable()
export class ServerDrain implements OnModuleInit {
  closing = false;

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('preClose', (done) => {
      this.closing = true;
      done();
    });
    fastify.addHook('onSend', (request, reply, payload, done) => {
      if (this.closing && !ownsItsPlumbing(request)) void reply.header('connection', 'close');
      done(null, payload);
    });
  }
}
