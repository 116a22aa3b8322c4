import path from 'node:path';
import { EventStore } from '@flash/event-store';
import { analyticsProjection, DocumentStore, MongoDocumentStore, PipelineRunner, ProjectionHost, ProjectionHostOptions, SqliteDocumentStore, WorkerPipelineRunner } from '@flash/read-models';
import type { Logger } from 'pino';
import { AppConfig, ConfigError } from './config';

/** The embedded read models' file in DATA_DIR (the server writes it; the projections CLI rebuilds into it). */
export const READ_MODELS_FILE = 'read-models.sqlite';

/** Pipelines that may wait for a busy analytics worker, per worker; more are refused (503 OVERLOADED, retryable). */
const WAITING_PER_WORKER = 4;

/**
 * The read models' store, for the api and the projections CLI alike: MongoDB when MONGO_URL is set, else the embedded
 * SQLite twin in DATA_DIR (in memory when the event store is).
 */
export const openDocumentStore = async (config: Pick<AppConfig, 'mongoUrl' | 'dataDir' | 'inMemoryStore'>): Promise<DocumentStore> => {
  if (config.mongoUrl) return MongoDocumentStore.connect(config.mongoUrl);
  return new SqliteDocumentStore(config.inMemoryStore ? ':memory:' : path.join(config.dataDir, READ_MODELS_FILE));
};

/**
 * Where analyst pipelines run: on MongoDB, the server; embedded, worker threads that read the SQLite file themselves
 * (so an in-memory read model, which no other connection can see, cannot be queried).
 */
export const openPipelineRunner = (
  config: Pick<AppConfig, 'dataDir' | 'inMemoryStore' | 'analyticsWorkers' | 'analyticsMaxMemoryMb'>,
  docs: DocumentStore,
  onWorkerError: (error: unknown) => void,
): PipelineRunner => {
  if (docs instanceof MongoDocumentStore) return docs.pipelineRunner();
  if (config.inMemoryStore) throw new ConfigError('analyst pipelines run in worker threads that read DATA_DIR/read-models.sqlite: the in-memory read models cannot be queried');
  return new WorkerPipelineRunner({
    file: path.join(config.dataDir, READ_MODELS_FILE),
    workers: config.analyticsWorkers,
    maxWaiting: config.analyticsWorkers * WAITING_PER_WORKER,
    maxMemoryMb: config.analyticsMaxMemoryMb,
    onWorkerError,
  });
};

/**
 * The analytics projection's host, as the api and the worker both run it: batches of PROJECTION_BATCH_SIZE, a poll of
 * the generation pointer (a rebuild by the CLI), old generations dropped a minute after a switch. `pace` lets the api
 * put requests in flight first; `followEveryMs` lets the worker fold a stretch of the log per batch.
 */
export const analyticsProjectionHost = (
  store: EventStore,
  docs: DocumentStore,
  config: Pick<AppConfig, 'projectionBatchSize'>,
  logger: Logger,
  now: () => number,
  /** The live runner's pacing (ProjectionRunnerOptions.pace and followEveryMs): how the api and the worker differ. */
  { pace, followEveryMs }: Pick<ProjectionHostOptions, 'pace' | 'followEveryMs'> = {},
): ProjectionHost => {
  const log = logger.child({ component: 'projections' });
  return new ProjectionHost(store, docs, analyticsProjection, {
    batchSize: config.projectionBatchSize,
    idleMs: 20,
    now,
    pointerPollMs: 2000,
    dropAfterMs: 60_000,
    ...(pace === undefined ? {} : { pace }),
    ...(followEveryMs === undefined ? {} : { followEveryMs }),
    onError: (error) => log.error({ err: error }, 'projection batch failed; retrying'),
    onSwitch: (from, to) => log.info({ from, to }, 'projection switched generation'),
  });
};
