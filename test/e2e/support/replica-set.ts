import { TestDatabase } from '../../../libs/event-store/test/postgres-support';
import { RedisServer } from '../../support/redis-server';
import { ApiClient } from './client';
import { ServerProcess } from './server';

export interface ReplicaSetOptions {
  /** One label per replica: how many there are. */
  readonly labels: readonly string[];
  /** What every replica gets beside the shared store, Redis and secrets. */
  readonly env?: Readonly<Record<string, string>>;
  readonly jwtSecret: string;
  /** Requests each replica's client keeps in flight. */
  readonly concurrency: number;
}

/**
 * Several api processes on one store, as API.md's "Several processes" has them: a PostgreSQL database and a
 * redis-server of the test's own, every replica started in turn, each with a client. Inside describeWithPostgres.
 */
export class ReplicaSet {
  private readonly database = new TestDatabase();
  private readonly redis = new RedisServer();
  replicas: ServerProcess[] = [];
  clients: ApiClient[] = [];

  constructor(private readonly options: ReplicaSetOptions) {}

  async start(): Promise<void> {
    await this.database.create();
    await this.redis.start();
    const env = {
      EVENTSTORE_URL: this.database.url,
      REDIS_URL: this.redis.url,
      JWT_SECRET: this.options.jwtSecret,
      PAYMENT_WEBHOOK_SECRET: 'w'.repeat(40),
      ...this.options.env,
    };
    this.replicas = this.options.labels.map((label) => new ServerProcess({ label, env }));
    for (const replica of this.replicas) await replica.start();
    this.clients = this.replicas.map((r) => new ApiClient(r.baseUrl, this.options.jwtSecret, this.options.concurrency));
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.destroy();
    for (const r of this.replicas) {
      await r.stop();
      r.cleanup();
    }
    await this.redis.stop();
    await this.database.drop();
  }
}

/** A ReplicaSet started before the suite's tests and stopped after them (call it inside the describe). */
export const replicaSetForSuite = (options: ReplicaSetOptions): ReplicaSet => {
  const set = new ReplicaSet(options);
  beforeAll(() => set.start());
  afterAll(() => set.stop());
  return set;
};
