import helmet from '@fastify/helmet';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppDependencies, AppModule } from './app.module';
import { registerRawJsonParser } from './http/json-body';
import { PinoNestLogger } from './logger';
import { HotPathCounters } from './metrics/hot-path-counters';

/** Builds the Nest application on Fastify; `main.ts` and the tests both start it through here. */
export const createApp = async (deps: AppDependencies): Promise<NestFastifyApplication> => {
  const adapter = new FastifyAdapter({ bodyLimit: deps.config.bodyLimitBytes, logger: false, return503OnClosing: true });
  const fastify = adapter.getInstance();
  registerRawJsonParser(fastify, deps.config.bodyLimitBytes);
  // Draining: once closing starts, every response still in flight tells its client to hang up, so keep-alive
  // connections do not hold the shutdown open after their last answer.
  let closing = false;
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
  // Security headers on every answer; the API serves JSON only, so the strictest content policy fits.
  await app.register(helmet, { contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } });
  await app.init();
  return app;
};
