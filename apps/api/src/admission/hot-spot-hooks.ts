import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HotSpots } from '@flash/access';
import type { FastifyInstance } from 'fastify';
import { ownsItsPlumbing } from '../http/own-plumbing';
import { AccessRequest, isOperatorUrl, saleIdOf } from './access-request';

/** The routes whose `:id` is a sale's: `/sales/:id` and everything under it. */
const SALE_ROUTE = /^\/sales\/:id(?:\/|$)/;

/**
 * Every buyer request served through Fastify's routes is sighted by the hot-spot detector once it is answered: its
 * sale (on a sale's route), its user (when authenticated) and its address. The reservation pipeline, a route of its
 * own plumbing, sights its own requests; operators' routes are not the crowd.
 */
export const installHotSpotHooks = (fastify: FastifyInstance, hotSpots: HotSpots): void => {
  fastify.addHook('onResponse', (request: AccessRequest, _reply, done) => {
    if (!ownsItsPlumbing(request) && !isOperatorUrl(request.url)) {
      const route = request.routeOptions.url;
      const saleId = route !== undefined && SALE_ROUTE.test(route) ? saleIdOf(request) : undefined;
      hotSpots.record(saleId, request.principal?.userId, request.ip);
    }
    done();
  });
};

/** Installs the hook while Nest initialises, before Fastify is ready (hooks reach every route at ready). */
@Injectable()
export class HotSpotHooks implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly hotSpots: HotSpots,
  ) {}

  onModuleInit(): void {
    installHotSpotHooks(this.adapterHost.httpAdapter.getInstance<FastifyInstance>(), this.hotSpots);
  }
}
