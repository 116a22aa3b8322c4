/** Read models: the document store and analyst pipeline ports and adapters, the projection runner (blue/green), the analytics model. */
export * from './document-store';
export * from './pipeline-runner';
export * from './projection';
export * from './projection-runner';
export * from './projection-host';
export { SqliteDocumentStore } from './embedded/sqlite-document-store';
export { WorkerPipelineRunner } from './embedded/worker-pipeline-runner';
export { MongoDocumentStore } from './mongo/mongo-document-store';
export * from './analytics/analytics.projection';
export * from './analytics/analytics-queries';
export * from './analytics/pipeline-policy';
export * from './analytics/rejection-log';
export * from './analytics/room-waits';
