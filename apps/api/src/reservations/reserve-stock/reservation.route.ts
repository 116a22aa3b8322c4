import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AccessRequest } from '../../admission/access-request';
import { OWN_PLUMBING } from '../../http/own-plumbing';
import { RESERVATIONS_ROUTE, ReservationAnswer, ReservationPipeline } from './reservation.pipeline';

/** The pipeline's answer, written below Fastify's reply (whose onSend hooks and serializer have nothing to add). */
const write = (reply: FastifyReply, { status, headers, payload }: ReservationAnswer): void => {
  void reply.hijack();
  if (reply.raw.destroyed) return;
  reply.raw.writeHead(status, headers);
  reply.raw.end(payload);
};

/**
 * POST /sales/:id/reservations on Fastify, for the requests the fast path in front of it leaves alone (unusual URLs,
 * media types, chunked bodies, …). Registered on Fastify directly rather than through a Nest controller: Nest's
 * guard, pipe and interceptor machinery cost more per request than the checks themselves. It only translates the
 * transport: the route itself is the ReservationPipeline, whose answer is written as it is. The route is of its own
 * plumbing (OWN_PLUMBING), so the global hooks leave it alone; what Fastify refuses before the handler (a body too
 * large, one that does not match its length) reaches the pipeline through the route's error handler.
 */
@Injectable()
export class ReservationRoute implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly pipeline: ReservationPipeline,
  ) {}

  onModuleInit(): void {
    const { pipeline } = this;
    this.adapterHost.httpAdapter.getInstance<FastifyInstance>().route({
      method: 'POST',
      url: RESERVATIONS_ROUTE,
      config: OWN_PLUMBING,
      onRequest: (_request, reply, done) => {
        pipeline.begin(reply.raw);
        done();
      },
      handler: async (request: AccessRequest, reply) => write(reply, await pipeline.answer(request, request.body)),
      errorHandler: (error, request: AccessRequest, reply) => {
        // A body the HTTP edge cut (REQUEST_TIMEOUT_MS) was answered and counted there: its connection is gone.
        if (request.raw.destroyed) void reply.hijack();
        else write(reply, pipeline.refuse(request, error));
      },
    });
  }
}
