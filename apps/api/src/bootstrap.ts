import type { IncomingMessage, RequestListener } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { serveApiDocument } from './api-document/serve-api-document';
import { AppDependencies, AppModule } from './app.module';
import { ApiError } from './http/error-catalogue';
import { sendEnvelope, toEnvelope } from './http/error.filter';
import { ClientAddresses } from './http/client-address';
import { HttpEdge } from './http/http-edge';
import { registerRawJsonParser } from './http/json-body';
import { requestIdOf } from './http/request-id';
import { registerSecurityHeaders, setAnswerHeaders } from './http/security-headers';
import { ServerDrain } from './http/server-drain';
import { PinoNestLogger } from './logger';
import { HotPathCounters } from './metrics/hot-path-counters';
import { ReservationFastPath } from './reservations/reserve-stock/reservation.fast-path';
import { ReservationPipeline } from './reservations/reserve-stock/reservation.pipeline';

/**
 * A request whose headers arrive once the drain has begun, on a connection opened before it (new connections are
 * refused by then): 503 in the envelope, like every other refusal, and the connection closed after it.
 */
const SHUTTING_DOWN = toEnvelope(new ApiError('NOT_READY', 'the server is shutting down; retry', { retryAfterMs: 1000 }));

/** Builds the Nest application on Fastify; `main.ts` and the tests both start it through here. */
export const createApp = async (deps: AppDependencies): Promise<NestFastifyApplication> => {
  // Nest builds these; the server and its hooks exist before it has, and see no request until it is listening.
  const late: { counters?: HotPathCounters; drain?: ServerDrain; fastPath?: ReservationFastPath; reservations?: ReservationPipeline } = {};
  const { config } = deps;
  const clientAddresses = deps.clientAddresses ?? new ClientAddresses(config.trustProxy);
  const edge = new HttpEdge({ ...config, exemptFromConnectionCap: (address) => clientAddresses.isTrustedProxy(address) }, {
    refused: (req, code) => late.reservations?.noteEdgeRefusal(req, code),
    answered: (code) => late.counters?.edgeAnswered(code),
  });
  const adapter = new FastifyAdapter({
    // The reservation fast path sees each request before Fastify and takes those of the ordinary shape.
    serverFactory: (handler: RequestListener) =>
      edge.createServer((req, res) => {
        if (late.drain?.closing === true) edge.refuse(req, res, SHUTTING_DOWN);
        else if (late.fastPath?.handle(req, res) !== true) handler(req, res);
      }),
    bodyLimit: config.bodyLimitBytes,
    // request.ip for every Fastify route; the fast path asks the same ClientAddresses.
    trustProxy: clientAddresses.fastifyTrustProxy,
    logger: false,
    // Requests arriving while closing are refused above, in the envelope (Fastify's own 503 is not).
    return503OnClosing: false,
    // No Nest middleware is used: without @fastify/middie every request skips its (empty) middleware runner.
    skipMiddie: true,
    // Fastify answers a badly encoded URL or an over-long path parameter itself, before any route and its hooks: in
    // the envelope too, with the security headers the onRequest hook would have set.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      setAnswerHeaders(request, reply);
      sendEnvelope(reply, toEnvelope(error));
    },
    // Every request's id (request.id) is the client's X-Request-Id when acceptable, else a new one: see request-id.ts.
    genReqId: (req: IncomingMessage) => requestIdOf(req.headers),
    // What Node's parser refuses, and requests past REQUEST_TIMEOUT_MS, never reach Fastify: the edge answers them.
    clientErrorHandler: edge.answerClientError,
  });
  const fastify = adapter.getInstance();
  registerRawJsonParser(fastify, config.bodyLimitBytes);
  // The request metric and debug line of every route but those of their own plumbing, which do both themselves.
  const requestLog = deps.logger.child({ component: 'http' });
  const logsRequests = requestLog.isLevelEnabled('debug');
  fastify.addHook('onResponse', (request, reply, done) => {
    const { url, config: route } = request.routeOptions;
    if (route.ownPlumbing !== true) {
      const path = url ?? 'unmatched';
      const status = reply.statusCode;
      late.counters?.requests.inc({ method: request.method, route: path, code: String(status) });
      late.counters?.routeLatency(request.method, path).observe(reply.elapsedTime / 1000);
      // The route's pattern, never the URL: a path or query may carry what does not belong in a log.
      if (logsRequests) requestLog.debug({ requestId: request.id, method: request.method, route: path, status, ms: Math.round(reply.elapsedTime) }, 'request answered');
    }
    done();
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ ...deps, clientAddresses }), adapter, {
    logger: new PinoNestLogger(deps.logger.child({ component: 'nest' })),
    bufferLogs: false,
    bodyParser: false,
  });
  late.counters = app.get(HotPathCounters);
  late.drain = app.get(ServerDrain);
  late.fastPath = app.get(ReservationFastPath);
  late.reservations = app.get(ReservationPipeline);
  // Security headers and X-Request-Id on every answer, the request's id around its handler; the API serves JSON only,
  // so the strictest content policy fits.
  registerSecurityHeaders(fastify);
  serveApiDocument(app);
  await app.init();
  return app;
};
