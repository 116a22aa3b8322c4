import { randomUUID } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import Fastify from 'fastify';
import { Pool } from 'pg';

/**
 * Baseline of the durable row: what a team writes first. Fastify + a pg Pool; per reservation one transaction
 * `UPDATE stock SET n = n - $q WHERE id = $1 AND n >= $q` (the hot row, serialised by its row lock) and
 * `INSERT INTO orders`, committed with PostgreSQL's defaults (fsync on, synchronous_commit on: durable like ours).
 * It verifies the same HS256 bearer token (fast-jwt) but skips purchase tokens, idempotency and per-user limits.
 */
export const SCHEMA = 'flash_bench';

export const setupSql = (saleId: string, stock: number): { text: string; values?: unknown[] }[] => [
  { text: `CREATE SCHEMA IF NOT EXISTS ${SCHEMA}` },
  { text: `DROP TABLE IF EXISTS ${SCHEMA}.orders, ${SCHEMA}.stock` },
  { text: `CREATE TABLE ${SCHEMA}.stock (id text PRIMARY KEY, n bigint NOT NULL)` },
  {
    text: `CREATE TABLE ${SCHEMA}.orders (id uuid PRIMARY KEY, sale_id text NOT NULL, user_id text NOT NULL, quantity int NOT NULL,
           idempotency_key text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now())`,
  },
  { text: `INSERT INTO ${SCHEMA}.stock (id, n) VALUES ($1, $2)`, values: [saleId, stock] },
];

const soldOut = (saleId: string) => ({ error: { code: 'SOLD_OUT', message: `sale ${saleId} is sold out`, retryable: false } });
const invalid = (message: string) => ({ error: { code: 'VALIDATION_FAILED', message, retryable: false } });

const main = async (): Promise<void> => {
  const env = process.env;
  const pool = new Pool({ connectionString: env.PG_URL, max: Number(env.PG_POOL_MAX ?? 20) });
  for (const q of setupSql(env.SALE_ID ?? 'bench', Number(env.STOCK ?? 1_000_000_000))) await pool.query(q.text, q.values);
  const verify = createVerifier({ key: env.JWT_SECRET ?? '', algorithms: ['HS256'], requiredClaims: ['sub', 'exp'], cache: 10_000 });

  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  app.get('/health/ready', () => ({ status: 'ready' }));
  app.post<{ Params: { id: string }; Body: { quantity?: unknown } }>('/sales/:id/reservations', async (request, reply) => {
    let userId: string;
    try {
      userId = (verify(String(request.headers.authorization).slice(7)) as { sub: string }).sub;
    } catch {
      void reply.code(401);
      return { error: { code: 'UNAUTHENTICATED', message: 'bad token', retryable: false } };
    }
    const key = request.headers['idempotency-key'];
    const quantity = request.body.quantity;
    if (typeof key !== 'string' || typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
      void reply.code(400);
      return invalid('quantity and Idempotency-Key are required');
    }
    const saleId = request.params.id;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const taken = await client.query(`UPDATE ${SCHEMA}.stock SET n = n - $2 WHERE id = $1 AND n >= $2`, [saleId, quantity]);
      if (taken.rowCount === 0) {
        await client.query('ROLLBACK');
        void reply.code(409);
        return soldOut(saleId);
      }
      const orderId = randomUUID();
      await client.query(`INSERT INTO ${SCHEMA}.orders (id, sale_id, user_id, quantity, idempotency_key) VALUES ($1, $2, $3, $4, $5)`, [
        orderId,
        saleId,
        userId,
        quantity,
        key,
      ]);
      await client.query('COMMIT');
      void reply.code(201);
      return { orderId, saleId, userId, quantity, status: 'reserved' };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      void reply.code(500);
      return { error: { code: 'INTERNAL', message: String(error), retryable: true } };
    } finally {
      client.release();
    }
  });
  const stop = (): void => {
    app
      .close()
      .then(() => pool.end())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await app.listen({ port: Number(env.PORT ?? 3000), host: env.HOST ?? '127.0.0.1' });
};

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`naive-postgres failed: ${String(error)}\n`);
    process.exit(1);
  });
}
