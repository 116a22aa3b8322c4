import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { AccessHooks } from '../../access/access-hooks';
import { PurchaseRequest } from '../../access/access-request';
import { APP_CONFIG, AppConfig, Logger, LOGGER } from '@flash/runtime';
import { envelopeOfUnhandled, retryAfterOf } from '../../http/error.filter';
import { RawJsonBody } from '../../http/json-body';
import { writeJson } from '../../http/raw-answer';
import { HotPathCounters } from '../../metrics/hot-path-counters';
import { ReservationRoute } from './reservation.route';

/** A sale id Fastify would pass through unchanged: no percent-encoding, within its 100-character parameter limit. */
const ORDINARY_PATH = /^\/sales\/([A-Za-z0-9._~-]{1,100})\/reservations$/;
/** The same route with a query string too: what a refusal before routing is counted under. */
const RESERVATION_PATH = /^\/sales\/([A-Za-z0-9._~-]{1,100})\/reservations(?:\?|$)/;
const JSON_MEDIA_TYPE = /^application\/json(?:[ \t]*;[ \t]*charset=utf-8)?$/i;

const purchaseRequestOf = (req: IncomingMessage, saleId: string): PurchaseRequest => ({
  ip: req.socket.remoteAddress ?? '',
  url: req.url ?? '',
  headers: req.headers,
  params: { id: saleId },
});

/**
 * POST /sales/:id/reservations in front of Fastify, for requests of the ordinary shape: a plain sale id and no
 * query, a JSON body with a Content-Length within the body limit, no Expect or Transfer-Encoding. They skip Fastify's
 * routing, hook chain and reply machinery — at the peak of a sale nearly every request is one of these — and run
 * the very same steps (`ReservationRoute.reserve`); every other request, and every request once the server is
 * closing, goes to Fastify, whose route answers it. What Fastify's hooks do for the route is done here too: the
 * in-flight count the shedder reads, the security headers, the refusal counts and known keys, the request metric.
 * It reads the body itself, but Node's parser keeps the time: a body that stops arriving is cut at REQUEST_TIMEOUT_MS
 * with a 408 by the HTTP edge (http-edge.ts), as on Fastify's route.
 */
@Injectable()
export class ReservationFastPath {
  private readonly bodyLimit: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly route: ReservationRoute,
    private readonly access: AccessHooks,
    private readonly counters: HotPathCounters,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.bodyLimit = config.bodyLimitBytes;
  }

  /** Takes the request and answers it (true), or leaves it to Fastify (false) without having touched it. */
  handle(req: IncomingMessage, res: ServerResponse, closing: () => boolean): boolean {
    if (req.method !== 'POST' || closing()) return false;
    const match = ORDINARY_PATH.exec(req.url ?? '');
    const { headers } = req;
    const contentType = headers['content-type'];
    const contentLength = headers['content-length'];
    if (match === null || contentType === undefined || contentLength === undefined || !JSON_MEDIA_TYPE.test(contentType)) return false;
    if (headers['transfer-encoding'] !== undefined || headers.expect !== undefined) return false;
    const length = Number(contentLength);
    if (!Number.isSafeInteger(length) || length > this.bodyLimit) return false;

    this.access.enter();
    res.once('close', () => this.access.leave());
    const request = purchaseRequestOf(req, match[1] as string);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => void this.answer(request, res, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), closing));
    req.once('error', () => res.destroy());
    return true;
  }

  private async answer(request: PurchaseRequest, res: ServerResponse, bytes: Buffer, closing: () => boolean): Promise<void> {
    let status: number;
    let payload: string;
    let retryAfter: string | undefined;
    try {
      const result = await this.route.reserve(request, new RawJsonBody(bytes.toString('utf8'), bytes));
      status = result.status;
      payload = JSON.stringify(result.body);
    } catch (error) {
      const envelope = envelopeOfUnhandled(error, this.logger);
      status = envelope.status;
      payload = JSON.stringify(envelope.body);
      retryAfter = retryAfterOf(envelope);
    }
    this.access.noteReservationAnswer(request, status, payload);
    if (res.destroyed) return;
    writeJson(res, status, payload, { retryAfter, close: closing() });
    this.counters.reservationAnswered(status);
  }

  /**
   * A reservation the HTTP edge refused before either way in saw it (the drain, the connection cap, a body that
   * stopped arriving): counted as this route's answers are, so the sale's rejections miss none. Other requests: nothing.
   */
  noteEdgeRefusal(req: IncomingMessage, status: number, payload: string): void {
    const match = req.method === 'POST' ? RESERVATION_PATH.exec(req.url ?? '') : null;
    if (match === null) return;
    this.access.noteReservationAnswer(purchaseRequestOf(req, match[1] as string), status, payload);
    this.counters.reservationAnswered(status);
  }
}
