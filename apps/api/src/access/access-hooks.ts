import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { KnownIdempotencyKeys, OverloadShedder, RejectionRecorder } from '@flash/access';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SaleCatalogue } from '@flash/command-side';
import { AccessRequest, PurchaseRequest, saleIdOf } from './access-request';
import { KNOWN_IDEMPOTENCY_KEYS, REJECTION_RECORDER } from './access.tokens';

export const RESERVATIONS_ROUTE = '/sales/:id/reservations';

export interface AccessHookDependencies {
  readonly shedder: OverloadShedder;
  readonly rejections: RejectionRecorder;
  readonly knownKeys: KnownIdempotencyKeys;
  /** Refusals are counted for sales that exist only: sale ids in refused requests come from clients. */
  readonly saleExists: (saleId: string) => boolean;
}

const IN_FLIGHT = Symbol('flash:in-flight');
type CountedRequest = FastifyRequest & { [IN_FLIGHT]?: boolean };

/** The envelope starts `{"error":{"code":"…"` (error.filter.ts): read the code without parsing the body. */
const ENVELOPE_CODE = /^\{"error":\{"code":"([A-Z_]+)"/;

const errorCodeOf = (payload: unknown): string | undefined => {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.subarray(0, 64).toString('utf8') : undefined;
  return text === undefined ? undefined : ENVELOPE_CODE.exec(text)?.[1];
};

const isReservation = (request: FastifyRequest): boolean => request.method === 'POST' && request.routeOptions.url === RESERVATIONS_ROUTE;

/**
 * Fastify hooks around every request: the in-flight count the shedder reads (from the first byte to the last,
 * aborted requests included), and, on POST /sales/:id/reservations, every refusal counted by sale and code —
 * whichever layer refused it (body limit, auth, access guards, handler) — and the keys answered with a reservation.
 */
export const installAccessHooks = (fastify: FastifyInstance, deps: AccessHookDependencies): void => {
  const { shedder } = deps;
  const release = (request: CountedRequest): void => {
    if (!request[IN_FLIGHT]) return;
    request[IN_FLIGHT] = false;
    shedder.leave();
  };
  fastify.addHook('onRequest', (request: CountedRequest, _reply, done) => {
    request[IN_FLIGHT] = true;
    shedder.enter();
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
  const noteAnswer = reservationAnswerNoter(deps);
  fastify.addHook('onSend', (request: AccessRequest, reply, payload, done) => {
    // A request whose connection is already gone was cut at the edge (a body past REQUEST_TIMEOUT_MS), which counted
    // it; the error Fastify then raises for the aborted body reaches nobody and is not counted a second time.
    if (isReservation(request) && !request.raw.destroyed) noteAnswer(request, reply.statusCode, payload);
    done(null, payload);
  });
};

/**
 * What is learnt from the answer to a reservation: a refusal counted by sale and code (read from the envelope),
 * a key answered with a reservation remembered. Used by the onSend hook and by the reservation fast path.
 */
export const reservationAnswerNoter =
  ({ rejections, knownKeys, saleExists }: Pick<AccessHookDependencies, 'rejections' | 'knownKeys' | 'saleExists'>) =>
  (request: PurchaseRequest, status: number, payload: unknown): void => {
    const saleId = saleIdOf(request);
    if (saleId === undefined) return;
    if (status >= 400) {
      const code = errorCodeOf(payload);
      if (code !== undefined && saleExists(saleId)) rejections.record(saleId, code);
    } else if (status < 300 && knownKeys.remember) {
      const key = request.headers['idempotency-key'];
      const userId = request.principal?.userId;
      if (typeof key === 'string' && userId !== undefined) knownKeys.remember(saleId, userId, key);
    }
  };

/** Installs the hooks while Nest initialises, before Fastify is ready (hooks reach every route at ready). */
@Injectable()
export class AccessHooks implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly shedder: OverloadShedder,
    @Inject(REJECTION_RECORDER) private readonly rejections: RejectionRecorder,
    @Inject(KNOWN_IDEMPOTENCY_KEYS) private readonly knownKeys: KnownIdempotencyKeys,
    private readonly catalog: SaleCatalogue,
  ) {}

  private get dependencies(): AccessHookDependencies {
    return {
      shedder: this.shedder,
      rejections: this.rejections,
      knownKeys: this.knownKeys,
      saleExists: (saleId) => this.catalog.sale(saleId) !== undefined,
    };
  }

  private noter: ReturnType<typeof reservationAnswerNoter> | undefined;

  /** For requests that never reach Fastify (the reservation fast path): what the onSend hook does. */
  noteReservationAnswer(request: PurchaseRequest, status: number, payload: string): void {
    this.noter ??= reservationAnswerNoter(this.dependencies);
    this.noter(request, status, payload);
  }

  /** The in-flight count the shedder reads, for requests that never reach Fastify. */
  enter(): void {
    this.shedder.enter();
  }

  leave(): void {
    this.shedder.leave();
  }

  onModuleInit(): void {
    installAccessHooks(this.adapterHost.httpAdapter.getInstance<FastifyInstance>(), this.dependencies);
  }

  onApplicationShutdown(): void {
    this.shedder.close();
  }
}
