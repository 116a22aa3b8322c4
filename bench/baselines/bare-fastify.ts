import Fastify from 'fastify';

/**
 * Baseline of the filter row: bare Fastify that parses the same JSON body (Fastify's own parser, secure-json-parse)
 * and answers the same 409 SOLD_OUT envelope as the engine, with no auth, no validation and no stock check. It is
 * the ceiling of what any Node.js HTTP server on this core can answer.
 */
const main = async (): Promise<void> => {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  app.get('/health/ready', () => ({ status: 'ready' }));
  app.post<{ Params: { id: string }; Body: { quantity?: unknown } }>('/sales/:id/reservations', async (request, reply) => {
    void reply.code(409);
    return { error: { code: 'SOLD_OUT', message: `sale ${request.params.id} is sold out`, retryable: false } };
  });
  const stop = (): void => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
};

main().catch((error: unknown) => {
  process.stderr.write(`bare-fastify failed: ${String(error)}\n`);
  process.exit(1);
});
