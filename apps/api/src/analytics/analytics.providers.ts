import { Provider } from '@nestjs/common';
import { OverloadShedder } from '@flash/access';
import { EventStore } from '@flash/event-store';
import { AnalyticsQueries, analyticsProjection, DocumentStore, PipelineRunner, ProjectionHost, RejectionLog } from '@flash/read-models';
import { Clock, CLOCK } from '../clock';
import { APP_CONFIG, AppConfig } from '../config';
import { Logger, LOGGER } from '../logger';
import { EVENT_STORE } from '../store/event-store.provider';
import { openDocumentStore, openPipelineRunner } from './document-store.factory';

export const DOCUMENT_STORE = Symbol('DOCUMENT_STORE');
export const ANALYTICS_HOST = Symbol('ANALYTICS_HOST');
export const PIPELINE_RUNNER = Symbol('PIPELINE_RUNNER');

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
  {
    provide: PIPELINE_RUNNER,
    useFactory: (config: AppConfig, docs: DocumentStore, logger: Logger) =>
      openPipelineRunner(config, docs, (error) => logger.child({ component: 'analytics' }).error({ err: error }, 'an analytics worker failed outside any query')),
    inject: [APP_CONFIG, DOCUMENT_STORE, LOGGER],
  },
  { provide: RejectionLog, useFactory: (docs: DocumentStore) => new RejectionLog(docs), inject: [DOCUMENT_STORE] },
  {
    provide: AnalyticsQueries,
    useFactory: (docs: DocumentStore, host: ProjectionHost, rejections: RejectionLog, pipelines: PipelineRunner, config: AppConfig) =>
      new AnalyticsQueries(docs, host, rejections, pipelines, {
        maxRows: config.analyticsMaxRows,
        maxTimeMs: config.analyticsMaxTimeMs,
        maxBytes: config.analyticsMaxBytes,
      }),
    inject: [DOCUMENT_STORE, ANALYTICS_HOST, RejectionLog, PIPELINE_RUNNER, APP_CONFIG],
  },
];
