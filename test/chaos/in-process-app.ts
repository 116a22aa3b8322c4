import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { EventStore, SqliteEventStore } from '@flash/event-store';
import { AnalyticsHost } from '../../apps/api/src/analytics/analytics-host';
import { createApp } from '../../apps/api/src/bootstrap';
import { Clock, LogIndexer } from '@flash/command-side';
import { AppConfig, createLogger, EVENTS_FILE, loadConfig } from '@flash/runtime';
import { SagaHost } from '../../apps/api/src/sagas/saga-host';
import { LogFollower } from '@flash/sagas';

export interface InProcessOptions {
  /** Environment as the server would read it (API.md / README), on top of the chaos defaults. */
  readonly env?: Record<string, string>;
  /** Replaces the Clock port (CLOCK): the api, the shard writers, the sagas and the store's recordedAt use it. */
  readonly clock?: Clock;
  /** Wraps the SQLite store before it is handed to the app as its EVENT_STORE (a fault-injecting decorator). */
  readonly wrapStore?: (inner: SqliteEventStore) => EventStore;
}

/**
 * The api built in this process, through the same `createApp` that main.ts uses, with the ports this suite replaces
 * (EVENT_STORE, CLOCK; APP_CONFIG from an explicit environment) handed to `AppModule.forRoot` — the module's own seam
 * for this; `@nestjs/testing` (Test.createTestingModule().overrideProvider) is not a dependency of this repo. It
 * listens on a real loopback port, so the suite drives it over HTTP exactly as it drives the child-process server,
 * and its SQLite store lives in a DATA_DIR the audit CLI can read.
 */
export class InProcessApi {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly config: AppConfig,
    readonly store: EventStore,
    readonly baseUrl: string,
  ) {}

  static async start(options: InProcessOptions = {}): Promise<InProcessApi> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-chaos-'));
    const config = loadConfig({
      DATA_DIR: dataDir,
      JWT_SECRET: `chaos-secret-${randomBytes(16).toString('hex')}`,
      PAYMENT_WEBHOOK_SECRET: `chaos-webhook-${randomBytes(16).toString('hex')}`,
      DEMO: '0',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.CHAOS_LOG ?? 'silent',
      ACCESS_LIMITS: 'off',
      SHED_EVENT_LOOP_DELAY_MS: '5000',
      ...options.env,
    });
    const clock = options.clock;
    const inner = new SqliteEventStore({
      file: path.join(dataDir, EVENTS_FILE),
      synchronous: config.sqliteSynchronous,
      coalesceAppends: config.sqliteCoalesceAppends,
      ...(clock ? { now: () => clock.now() } : {}),
    });
    const store = options.wrapStore ? options.wrapStore(inner) : inner;
    const app = await createApp({ config, logger: createLogger(config.logLevel), store, ...(clock ? { clock } : {}) });
    // As main.ts: listen, then the catalog catches up, the sagas and the read models start following the log.
    await app.listen({ port: 0, host: '127.0.0.1' });
    await app.get(LogIndexer).start();
    await app.get(SagaHost).start();
    await app.get(AnalyticsHost).start();
    const { port } = app.getHttpServer().address() as AddressInfo;
    return new InProcessApi(app, config, store, `http://127.0.0.1:${port}`);
  }

  get dataDir(): string {
    return this.config.dataDir;
  }

  get jwtSecret(): string {
    return this.config.jwtSecret;
  }

  /** The embedded sagas' follower (these apps run with WORKER=embedded). */
  get sagas(): { follower: LogFollower } {
    const { follower } = this.app.get(SagaHost);
    if (follower === undefined) throw new Error('the in-process app runs the sagas embedded');
    return { follower };
  }

  /** Resolves once the sagas have applied everything in the store (before a manual tick on a fake clock). */
  async sagasCaughtUp(): Promise<void> {
    await this.sagas.follower.waitForPosition(await this.store.headPosition(), 10_000);
  }

  /** One sweep of every saga at the clock's time, on a fully applied log, then lets the sagas see its effects. */
  async tick(): Promise<void> {
    await this.sagasCaughtUp();
    await this.sagas.follower.tick();
    await this.sagasCaughtUp();
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  cleanup(): void {
    fs.rmSync(this.config.dataDir, { recursive: true, force: true });
  }
}
