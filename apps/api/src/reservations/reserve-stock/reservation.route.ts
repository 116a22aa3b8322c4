import { createHash } from 'node:crypto';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AccessRequest, PurchaseRequest } from '../../access/access-request';
import { RESERVATIONS_ROUTE } from '../../access/access-hooks';
import { PurchaseChecks } from '../../access/purchase-checks';
import { JwtService } from '../../auth/jwt.service';
import { ApiError } from '../../http/error-catalogue';
import { envelopeOfUnhandled, sendEnvelope } from '../../http/error.filter';
import { parseBody } from '../../http/json-body';
import { Logger, LOGGER } from '@flash/runtime';
import { LogIndexer, SaleCatalogue } from '@flash/command-side';
import { ReservationView, ReserveStockCommand } from './reserve-stock.command';
import { IDEMPOTENCY_KEY_PATTERN, ReservationRequest } from './reserve-stock.dto';
import { ReserveStockHandler } from './reserve-stock.handler';

const IP_HASHES_KEPT = 10_000;
const ipHashes = new Map<string, string>();

/**
 * Client IPs are kept in event metadata only as a hash (enough to spot a farm, not to identify a person). A crowd
 * comes from far fewer addresses than requests (NAT, proxies), so the latest hashes are kept.
 */
export const hashClientIp = (ip: string): string => {
  let hash = ipHashes.get(ip);
  if (hash === undefined) {
    hash = createHash('sha256').update(`client-ip\n${ip}`).digest('base64url').slice(0, 22);
    if (ipHashes.size >= IP_HASHES_KEPT) ipHashes.clear();
    ipHashes.set(ip, hash);
  }
  return hash;
};

/**
 * POST /sales/:id/reservations, the route the whole crowd hits, registered on Fastify directly rather than
 * through a Nest controller: Nest's guard, pipe and interceptor machinery (execution contexts, metadata lookups,
 * promise chains) cost more per request than the checks themselves. The steps and their order are those of every
 * other route: readiness, authentication, the access checks (PurchaseChecks, shared with the Nest guards), the
 * Idempotency-Key, the strictly validated body, then the command handler; any error leaves in the one envelope.
 * The hooks on the Fastify instance (security headers, in-flight count, refusal counts, metrics) apply as to any route.
 * Requests of the ordinary shape do not even reach Fastify: ReservationFastPath takes them first and runs the
 * same `reserve`; this route answers the others (unusual URLs, media types, chunked bodies, …).
 */
@Injectable()
export class ReservationRoute implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly catalog: SaleCatalogue,
    private readonly indexes: LogIndexer,
    private readonly jwt: JwtService,
    private readonly checks: PurchaseChecks,
    private readonly handler: ReserveStockHandler,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.post(RESERVATIONS_ROUTE, async (request: AccessRequest, reply: FastifyReply) => {
      try {
        const { status, body } = await this.reserve(request, request.body);
        void reply.status(status);
        return body;
      } catch (error) {
        sendEnvelope(reply, envelopeOfUnhandled(error, this.logger));
        return reply;
      }
    });
  }

  /** The route's steps after the transport: shared by the Fastify route and the fast path in front of Fastify. */
  async reserve(request: PurchaseRequest, rawBody: unknown): Promise<{ status: 200 | 201; body: ReservationView }> {
    if (!this.indexes.ready) throw new ApiError('NOT_READY', 'the service is catching up with the event log', { retryAfterMs: 1000 });
    const principal = this.jwt.verify(request.headers.authorization);
    request.principal = principal;
    await this.checks.purchase(request, 'reservation');
    const idempotencyKey = request.headers['idempotency-key'];
    if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      throw new ApiError('VALIDATION_FAILED', 'the Idempotency-Key header is required: 8–128 printable ASCII characters');
    }
    const body = parseBody(ReservationRequest, rawBody);
    const { id } = request.params as { id: string };
    // The catalog's own copy of the id: what the request carries is a slice of its URL, and anything kept per order
    // (holds, orders, pending work) would keep the whole URL alive with it.
    const saleId = this.catalog.sale(id)?.definition.saleId ?? id;
    const result = await this.handler.execute(
      new ReserveStockCommand(saleId, principal.userId, idempotencyKey, body.quantity, body.purchaseToken, hashClientIp(request.ip), body.challengeAnswer),
    );
    return { status: result.created ? 201 : 200, body: result.view };
  }
}
