import http, { ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppDependencies, AppModule } from './app.module';
import { ApiError } from './http/error-catalogue';
import { retryAfterOf, sendEnvelope, toEnvelope } from './http/error.filter';
import { registerRawJsonParser } from './http/json-body';
import { registerSecurityHeaders, securityHeaders } from './http/security-headers';
import { PinoNestLogger } from './logger';
import { HotPathCounters } from './metrics/hot-path-counters';
import { ReservationFastPath } from './reservations/reserve-stock/reservation.fast-path';

/**
 * What Node's HTTP parser refuses (headers over its 16 KB limit, malformed requests) never reaches Fastify's routing:
 * answered on the raw socket, in the envelope, like Fastify's default handler otherwise does.
 */
const envelopeClientError = (error: Error & { code?: string }, socket: Socket): void => {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, body } =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? toEnvelope(new ApiError('PAYLOAD_TOO_LARGE', 'the request headers are too large'))
      : toEnvelope(new ApiError('VALIDATION_FAILED', 'malformed HTTP request'));
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(error);
};

/**
 * A request whose headers arrive once the drain has begun, on a connection opened before it (new connections are
 * refused by then): 503 in the envelope, like every other refusal, and the connection closed after it.
 */
const refuseWhileClosing = (res: ServerResponse): void => {
  const refusal = toEnvelope(new ApiError('NOT_READY', 'the server is shutting down; retry', { retryAfterMs: 1000 }));
  const text = JSON.stringify(refusal.body);
  res.writeHead(refusal.status, {
    ...securityHeaders(),
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'retry-after': retryAfterOf(refusal) ?? '1',
    connection: 'close',
  });
  res.end(text);
};

/** Fastify's defaults for the server it would have created itself (fastify.js, getServerInstance). */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** Builds the Nest application on Fastify; `main.ts` and the tests both start it through here. */
export const createApp = async (deps: AppDependencies): Promise<NestFastifyApplication> => {
  // The reservation fast path sees each request before Fastify and takes those of the ordinary shape.
  const front: { fastPath?: ReservationFastPath } = {};
  let closing = false;
  const adapter = new FastifyAdapter({
    serverFactory: (handler: http.RequestListener) => {
      const server = http.createServer((req, res) => {
        if (closing) refuseWhileClosing(res);
        else if (front.fastPath?.handle(req, res, () => closing) !== true) handler(req, res);
      });
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
    bodyLimit: deps.config.bodyLimitBytes,
    logger: false,
    // Requests arriving while closing are refused above, in the envelope (Fastify's own 503 is not).
    return503OnClosing: false,
    // No Nest middleware is used: without @fastify/middie every request skips its (empty) middleware runner.
    skipMiddie: true,
    // Fastify answers a badly encoded URL or an over-long path parameter itself, before any route: in the envelope too.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => sendEnvelope(reply, toEnvelope(error)),
    clientErrorHandler: envelopeClientError,
  });
  const fastify = adapter.getInstance();
  registerRawJsonParser(fastify, deps.config.bodyLimitBytes);
  // Draining: once closing starts, every response still in flight tells its client to hang up, so keep-alive
  // connections do not hold the shutdown open after their last answer.
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  const late: { counters?: HotPathCounters } = {}; // the hook exists before Nest has built the counters
  fastify.addHook('onResponse', (request, reply, done) => {
    late.counters?.requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
    done();
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(deps), adapter, {
    logger: new PinoNestLogger(deps.logger.child({ component: 'nest' })),
    bufferLogs: false,
    bodyParser: false,
  });
  late.counters = app.get(HotPathCounters);
  front.fastPath = app.get(ReservationFastPath);
  // Security headers on every answer; the API serves JSON only, so the strictest content policy fits.
  registerSecurityHeaders(fastify);
  await app.init();
  return app;
};
