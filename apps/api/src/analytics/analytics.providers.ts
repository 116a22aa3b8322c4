import { Provider } from '@nestjs/common';
import { OverloadShedder } from '@flash/access';
import { EventStore } from '@flash/event-store';
import { AnalyticsQueries, DocumentStore, PipelineRunner, ProjectionHost, RejectionLog, RoomWaitLog } from '@flash/read-models';
import { Clock, CLOCK } from '@flash/command-side';
import { analyticsProjectionHost, APP_CONFIG, AppConfig, EVENT_STORE, Logger, LOGGER, openDocumentStore, openPipelineRunner } from '@flash/runtime';

export const DOCUMENT_STORE = Symbol('DOCUMENT_STORE');
export const ANALYTICS_HOST = Symbol('ANALYTICS_HOST');
export const PIPELINE_RUNNER = Symbol('PIPELINE_RUNNER');

export const analyticsProviders: Provider[] = [
  { provide: DOCUMENT_STORE, useFactory: openDocumentStore, inject: [APP_CONFIG] },
  {
    provide: ANALYTICS_HOST,
    useFactory: (store: EventStore, docs: DocumentStore, config: AppConfig, clock: Clock, logger: Logger, shedder: OverloadShedder) =>
      // Requests in flight come first: while serving, at most one batch per PROJECTION_BUSY_PAUSE_MS.
      analyticsProjectionHost(store, docs, config, logger, () => clock.now(), { pace: () => (shedder.inFlight > 0 ? config.projectionBusyPauseMs : 0) }),
    inject: [EVENT_STORE, DOCUMENT_STORE, APP_CONFIG, CLOCK, LOGGER, OverloadShedder],
  },
  {
    provide: PIPELINE_RUNNER,
    useFactory: (config: AppConfig, docs: DocumentStore, logger: Logger) =>
      openPipelineRunner(config, docs, (error) => logger.child({ component: 'analytics' }).error({ err: error }, 'an analytics worker failed outside any query')),
    inject: [APP_CONFIG, DOCUMENT_STORE, LOGGER],
  },
  { provide: RejectionLog, useFactory: (docs: DocumentStore) => new RejectionLog(docs), inject: [DOCUMENT_STORE] },
  { provide: RoomWaitLog, useFactory: (docs: DocumentStore) => new RoomWaitLog(docs), inject: [DOCUMENT_STORE] },
  {
    provide: AnalyticsQueries,
    useFactory: (docs: DocumentStore, host: ProjectionHost, rejections: RejectionLog, pipelines: PipelineRunner, config: AppConfig, roomWaits: RoomWaitLog) =>
      new AnalyticsQueries(
        docs,
        host,
        rejections,
        pipelines,
        {
          maxRows: config.analyticsMaxRows,
          maxTimeMs: config.analyticsMaxTimeMs,
          maxBytes: config.analyticsMaxBytes,
        },
        roomWaits,
      ),
    inject: [DOCUMENT_STORE, ANALYTICS_HOST, RejectionLog, PIPELINE_RUNNER, APP_CONFIG, RoomWaitLog],
  },
];
