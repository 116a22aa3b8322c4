import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { HotSpots, KnownIdempotencyKeys, OverloadShedder, RejectionRecorder } from '@flash/access';
import { PurchaseRequest, saleIdOf } from '../../admission/access-request';
import { KNOWN_IDEMPOTENCY_KEYS, REJECTION_RECORDER } from '../../admission/access.tokens';
import { PurchaseChecks } from '../../admission/purchase-checks';
import { JwtService } from '../../auth/jwt.service';
import { ApiError, ApiErrorCode, ERROR_CATALOGUE } from '../../http/error-catalogue';
import { envelopeOfUnhandled, retryAfterOf } from '../../http/error.filter';
import { parseBody } from '../../http/json-body';
import { answerHeaders } from '../../http/raw-answer';
import { ServerDrain } from '../../http/server-drain';
import { Clock, CLOCK, LogIndexer, SaleCatalogue } from '@flash/command-side';
import { Logger, LOGGER } from '@flash/runtime';
import { HotPathCounters, RouteAnswers } from '../../metrics/hot-path-counters';
import { ReserveStockCommand } from './reserve-stock.command';
import { IDEMPOTENCY_KEY_PATTERN, ReservationRequest } from './reserve-stock.dto';

export const RESERVATIONS_ROUTE = '/sales/:id/reservations';

/** The route's URL as the HTTP edge sees it, before routing (a query string too): what its refusals are counted under. */
const RESERVATION_URL = /^\/sales\/([A-Za-z0-9._~-]{1,100})\/reservations(?:\?|$)/;

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

/** What a way in writes back: the status, every header, the JSON text. */
export interface ReservationAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: string;
}

/** What the in-flight count needs of a way in's response: to hear once when it closes (answered or aborted). */
export interface ClosingResponse {
  once(event: 'close', listener: () => void): unknown;
}

/**
 * POST /sales/:id/reservations, the route the whole crowd hits, whichever way the request came in: the fast path in
 * front of Fastify (reservation.fast-path.ts) or the Fastify route (reservation.route.ts), which only translate the
 * transport. Everything else about the route lives here, once:
 * - the in-flight count the shedder reads, from the first byte to the connection's close (`begin`);
 * - the steps in API.md's order: readiness, authentication, the access checks (PurchaseChecks, shared with the Nest
 *   guards), the Idempotency-Key, the strictly validated body, then the command handler (`answer`);
 * - the request id (X-Request-Id, request-id.ts), passed by hand: to the command (its events' correlationId), to the
 *   lines written here (the answer's, an unhandled error's), and back in the answer;
 * - the answer: the one error envelope for whatever was thrown, the security headers, Retry-After on 429/503,
 *   `connection: close` once the server drains; one line at debug level (never info: the crowd's route);
 * - what is learnt from it: a refusal counted by sale and by its code (taken from the error, never read back out of
 *   the JSON), a key answered with a reservation remembered, the request metric, the hot-spot sighting.
 * What a transport refuses before the steps (Fastify: a body too large; the edge: a body past REQUEST_TIMEOUT_MS, the
 * drain) is answered or counted here too (`refuse`, `noteEdgeRefusal`), so each refusal is counted exactly once.
 */
@Injectable()
export class ReservationPipeline {
  private readonly answers: RouteAnswers;
  /** Given to every response's 'close' as it is: no closure per request. */
  private readonly leave = (): void => this.shedder.leave();
  /** The answer's debug line, decided once: the level does not change while the process runs. */
  private readonly logsAnswers: boolean;

  constructor(
    private readonly catalogue: SaleCatalogue,
    private readonly indexes: LogIndexer,
    private readonly jwt: JwtService,
    private readonly checks: PurchaseChecks,
    private readonly commands: CommandBus,
    private readonly shedder: OverloadShedder,
    @Inject(REJECTION_RECORDER) private readonly rejections: RejectionRecorder,
    @Inject(KNOWN_IDEMPOTENCY_KEYS) private readonly knownKeys: KnownIdempotencyKeys,
    private readonly drain: ServerDrain,
    private readonly hotSpots: HotSpots,
    counters: HotPathCounters,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.answers = counters.routeAnswers('POST', RESERVATIONS_ROUTE);
    this.logsAnswers = logger.isLevelEnabled('debug');
  }

  /** The request's first byte: it counts as in flight until its response closes. */
  begin(response: ClosingResponse): void {
    this.shedder.enter();
    response.once('close', this.leave);
  }

  /** The route's steps, in order, on a request whose body has arrived, and the answer to write. Never throws. */
  async answer(request: PurchaseRequest, rawBody: unknown): Promise<ReservationAnswer> {
    const started = performance.now();
    // The body has arrived: the answer's time, before any of this server's own waits (the checks, the store), for a
    // challenge's minimum solve time. (Less the event loop's recent delay was tried: it refused 9 % of the simulator's
    // humans on a loaded machine for few bots more, a worse trade than the room's per-address rules.)
    const receivedAt = this.clock.now();
    try {
      this.indexes.refuseUnlessCaughtUp();
      // Awaited only when it is a promise (an identity provider's token seen for the first time): an HS256 or
      // remembered token, the crowd's, costs no microtask hop.
      const verified = this.jwt.verify(request.headers.authorization);
      const principal = verified instanceof Promise ? await verified : verified;
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
      const saleId = this.catalogue.sale(id)?.definition.saleId ?? id;
      const result = await this.commands.execute(
        new ReserveStockCommand(
          saleId,
          principal.userId,
          idempotencyKey,
          body.quantity,
          body.purchaseToken,
          hashClientIp(request.ip),
          body.challengeAnswer,
          request.id,
          receivedAt,
        ),
      );
      // Answered with a reservation: a retry of this key is a replay, let through the rate limits and degradation.
      this.knownKeys.remember?.(saleId, principal.userId, idempotencyKey);
      return this.answered(request, result.created ? 201 : 200, JSON.stringify(result.view), undefined, result.view.orderId, started);
    } catch (error) {
      return this.refuse(request, error, started);
    } finally {
      // Answered or refused, the request counts towards its sale's, its user's and its address's rate.
      this.hotSpots.record(saleIdOf(request), request.principal?.userId, request.ip);
    }
  }

  /**
   * Any error, from the steps or from the transport before them: the envelope, counted as a refusal of the sale.
   * `started`: when the steps began (performance.now()), for the latency histogram; a transport's refusal has none.
   */
  refuse(request: PurchaseRequest, error: unknown, started?: number): ReservationAnswer {
    const envelope = envelopeOfUnhandled(error, this.logger, request.id);
    const saleId = saleIdOf(request);
    if (saleId !== undefined) this.countRefusal(saleId, envelope.body.error.code);
    return this.answered(request, envelope.status, JSON.stringify(envelope.body), retryAfterOf(envelope), envelope.body.error.code, started);
  }

  /**
   * A request the HTTP edge answered itself before either way in saw it (the drain, the connection cap, a body that
   * stopped arriving): if it was a reservation, it is counted as this route's answers are. Other requests: nothing.
   */
  noteEdgeRefusal(request: { readonly method?: string | undefined; readonly url?: string | undefined }, code: ApiErrorCode): void {
    const match = request.method === 'POST' ? RESERVATION_URL.exec(request.url ?? '') : null;
    if (match === null) return;
    this.countRefusal(match[1] as string, code);
    this.answers.answered(ERROR_CATALOGUE[code].status);
  }

  /** Refusals are counted for sales that exist only: sale ids in refused requests come from clients. */
  private countRefusal(saleId: string, code: ApiErrorCode): void {
    if (this.catalogue.sale(saleId) !== undefined) this.rejections.record(saleId, code);
  }

  /**
   * `outcome`: the order answered, or the refusal's code. Nothing of the request's headers or body is logged.
   * `started`: for the latency histogram (undefined for a transport's refusal).
   */
  private answered(request: PurchaseRequest, status: number, payload: string, retryAfter: string | undefined, outcome: string, started: number | undefined): ReservationAnswer {
    this.answers.answered(status, started === undefined ? undefined : (performance.now() - started) / 1000);
    if (this.logsAnswers) {
      const saleId = saleIdOf(request);
      this.logger.debug({ requestId: request.id, route: RESERVATIONS_ROUTE, status, saleId, userId: request.principal?.userId, outcome }, 'reservation answered');
    }
    return { status, payload, headers: answerHeaders(payload, { requestId: request.id, retryAfter, close: this.drain.closing }) };
  }
}
