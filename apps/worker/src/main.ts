import { systemClock } from '@flash/command-side';
import { ConfigError, createLogger, loadConfig } from '@flash/runtime';
import { Worker } from './worker';

/** `npm run worker`: the sagas and projections as a process of their own (run the api with WORKER=external). */
const main = async (): Promise<void> => {
  const config = loadConfig(process.env, 'worker');
  const logger = createLogger(config.logLevel, config.logFormat, 'flash-sale-worker');
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  if (config.worker !== 'external') {
    logger.warn('WORKER is not "external": an api on this store runs the sagas too; their effects are idempotent, but run the api with WORKER=external');
  }
  const worker = await Worker.open(config, logger, systemClock);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'worker shutdown timed out');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    worker.stop().then(
      () => {
        logger.info({ signal }, 'worker stopped cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'worker shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await worker.start();
};

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`flash-sale worker failed to start: ${message}\n`);
  process.exit(1);
});
