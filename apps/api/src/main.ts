import 'reflect-metadata';
import fs from 'node:fs';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from './bootstrap';
import { apiFollowEveryMs, ConfigError, createLogger, loadConfig, Logger, openEventStore } from '@flash/runtime';
import { demoInstructions, ensureDemoSale } from './demo/demo-sale';
import { AnalyticsHost } from './analytics/analytics-host';
import { SagaHost } from './sagas/saga-host';
import { LogIndexer } from '@flash/command-side';

/**
 * SIGTERM/SIGINT: stop taking requests, drain the in-flight ones, settle queued shard commands, close the store,
 * exit 0. SIGKILL loses nothing acknowledged: every 201 waited for its fsync.
 */
const installShutdown = (app: NestFastifyApplication, logger: Logger, timeoutMs: number): void => {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out');
      process.exit(1);
    }, timeoutMs).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
};

const main = async (): Promise<void> => {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  // The store first: one that cannot be opened (EVENTSTORE_URL unreachable) stops the start before anything else
  // (saga checkpoints, read models) is written to DATA_DIR.
  const store = await openEventStore(config, { followEveryMs: apiFollowEveryMs(config) });
  // Saga checkpoints and embedded read models live in DATA_DIR whatever the store (per host, so far).
  fs.mkdirSync(config.dataDir, { recursive: true });
  const app = await createApp({ config, logger, store });
  installShutdown(app, logger, config.shutdownTimeoutMs);
  await app.listen({ port: config.port, host: config.host });
  logger.info({ port: config.port, host: config.host, dataDir: config.dataDir, demo: config.demo }, 'listening');
  await app.get(LogIndexer).start();
  await app.get(SagaHost).start();
  await app.get(AnalyticsHost).start();
  if (config.demo) {
    const sale = await ensureDemoSale(app, Date.now());
    process.stdout.write(demoInstructions(app, config, sale) + '\n');
  }
};

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`flash-sale api failed to start: ${message}\n`);
  process.exit(1);
});
