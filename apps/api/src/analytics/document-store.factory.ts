import path from 'node:path';
import { DocumentStore, MongoDocumentStore, SqliteDocumentStore } from '@flash/read-models';
import type { AppConfig } from '../config';

/** The embedded read models' file in DATA_DIR (the server writes it; the projections CLI rebuilds into it). */
export const READ_MODELS_FILE = 'read-models.sqlite';

/**
 * The read models' store, for the api and the projections CLI alike: MongoDB when MONGO_URL is set, else the embedded
 * SQLite twin in DATA_DIR (in memory when the event store is).
 */
export const openDocumentStore = async (config: Pick<AppConfig, 'mongoUrl' | 'dataDir' | 'inMemoryStore'>): Promise<DocumentStore> => {
  if (config.mongoUrl) return MongoDocumentStore.connect(config.mongoUrl);
  return new SqliteDocumentStore(config.inMemoryStore ? ':memory:' : path.join(config.dataDir, READ_MODELS_FILE));
};
