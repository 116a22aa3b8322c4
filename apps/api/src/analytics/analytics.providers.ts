import path from 'node:path';
import { Provider } from '@nestjs/common';
import { OverloadShedder } from '@flash/access';
import { EventStore } from '@flash/event-store';
import { AnalyticsQueries, analyticsProjection, DocumentStore, MongoDocumentStore, ProjectionHost, RejectionLog, SqliteDocumentStore } from '@flash/read-models';
import { Clock, CLOCK } from '../clock';
import { APP_CONFIG, AppConfig } from '../config';
import { Logger, LOGGER } from '../logger';
import { EVENT_STORE } from '../store/event-store.provider';
import { READ_MODELS_FILE } from './read-models-file';

export const DOCUMENT_STORE = Symbol('DOCUMENT_STORE');
export const ANALYTICS_HOST = Symbol('ANALYTICS_HOST');

/** MongoDB when MONGO_URL is set, else the embedded SQLite twin (in memory when the event store is). */
export const openDocumentStore = async (config: AppConfig): Promise<DocumentStore> => {
  if (config.mongoUrl) return MongoDocumentStore.connect(config.mongoUrl);
  return new SqliteDocumentStore(config.inMemoryStore ? ':memory:' : path.join(config.dataDir, READ_MODELS_FILE));
};

export const analyticsProviders: Provider[] = [
  { provide: DOCUMENT_STORE, useFactory: openDocumentStore, inject: [APP_CONFIG] },
  {
    provide: ANALYTICS_HOST,
    useFactory: (store: EventStore, docs: DocumentStore, config: AppConfig, clock: Clock, logger: Logger, shedder: OverloadShedder) => {
      const log = logger.child({ component: 'projections' });
      return new ProjectionHost(store, docs, analyticsProjection, {
        batchSize: config.projectionBatchSize,
        idleMs: 20,
        now: () => clock.now(),
        pointerPollMs: 2000,
        dropAfterMs: 60_000,
        // Requests in flight come first: while serving, at most one batch per PROJECTION_BUSY_PAUSE_MS.
        pace: () => (shedder.inFlight > 0 ? config.projectionBusyPauseMs : 0),
        onError: (error) => log.error({ err: error }, 'projection batch failed; retrying'),
        onSwitch: (from, to) => log.info({ from, to }, 'projection switched generation'),
      });
    },
    inject: [EVENT_STORE, DOCUMENT_STORE, APP_CONFIG, CLOCK, LOGGER, OverloadShedder],
  },
  { provide: RejectionLog, useFactory: (docs: DocumentStore) => new RejectionLog(docs), inject: [DOCUMENT_STORE] },
  {
    provide: AnalyticsQueries,
    useFactory: (docs: DocumentStore, host: ProjectionHost, rejections: RejectionLog, config: AppConfig) =>
      new AnalyticsQueries(docs, host, rejections, { maxRows: config.analyticsMaxRows, maxTimeMs: config.analyticsMaxTimeMs }),
    inject: [DOCUMENT_STORE, ANALYTICS_HOST, RejectionLog, APP_CONFIG],
  },
];
