import path from 'node:path';
import { DocumentStore, MongoDocumentStore, PipelineRunner, SqliteDocumentStore, WorkerPipelineRunner } from '@flash/read-models';
import { AppConfig, ConfigError } from '../config';

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
