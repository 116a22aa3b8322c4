import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { PurchaseRequest } from '../../admission/access-request';
import { APP_CONFIG, AppConfig } from '@flash/runtime';
import { ClientAddresses } from '../../http/client-address';
import { RawJsonBody } from '../../http/json-body';
import { requestIdOf } from '../../http/request-id';
import { ReservationPipeline } from './reservation.pipeline';

/** A sale id Fastify would pass through unchanged: no percent-encoding, within its 100-character parameter limit. */
const ORDINARY_PATH = /^\/sales\/([A-Za-z0-9._~-]{1,100})\/reservations$/;
const JSON_MEDIA_TYPE = /^application\/json(?:[ \t]*;[ \t]*charset=utf-8)?$/i;

/**
 * POST /sales/:id/reservations in front of Fastify, for requests of the ordinary shape: a plain sale id and no
 * query, a JSON body with a Content-Length within the body limit, no Expect or Transfer-Encoding. At the peak of a
 * sale nearly every request is one of these: they skip Fastify's routing, hook chain and reply machinery. Every other
 * request goes to Fastify, whose route (reservation.route.ts) answers it. Both only translate the transport: the
 * route itself — checks, counts, headers, envelope — is the ReservationPipeline. The body is read here, but Node's
 * parser keeps the time: a body that stops arriving is cut at REQUEST_TIMEOUT_MS with a 408 by the HTTP edge.
 */
@Injectable()
export class ReservationFastPath {
  private readonly bodyLimit: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly pipeline: ReservationPipeline,
    private readonly clients: ClientAddresses,
  ) {
    this.bodyLimit = config.bodyLimitBytes;
  }

  /** Takes the request and answers it (true), or leaves it to Fastify (false) without having touched it. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST') return false;
    const match = ORDINARY_PATH.exec(req.url ?? '');
    const { headers } = req;
    const contentType = headers['content-type'];
    const contentLength = headers['content-length'];
    if (match === null || contentType === undefined || contentLength === undefined || !JSON_MEDIA_TYPE.test(contentType)) return false;
    if (headers['transfer-encoding'] !== undefined || headers.expect !== undefined) return false;
    const length = Number(contentLength);
    if (!Number.isSafeInteger(length) || length > this.bodyLimit) return false;

    this.pipeline.begin(res);
    const request: PurchaseRequest = {
      id: requestIdOf(headers),
      ip: this.clients.of(req),
      url: req.url ?? '',
      headers,
      params: { id: match[1] as string },
    };
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => void this.answer(request, res, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once('error', () => res.destroy());
    return true;
  }

  private async answer(request: PurchaseRequest, res: ServerResponse, bytes: Buffer): Promise<void> {
    const { status, headers, payload } = await this.pipeline.answer(request, new RawJsonBody(bytes.toString('utf8'), bytes));
    if (res.destroyed) return;
    res.writeHead(status, headers);
    res.end(payload);
  }
}
