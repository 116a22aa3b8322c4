/** Read models: the document store port and adapters, the projection runner (blue/green), the analytics model. */
export * from './document-store';
export * from './projection';
export * from './projection-runner';
export * from './projection-host';
export { SqliteDocumentStore } from './embedded/sqlite-document-store';
export { MongoDocumentStore } from './mongo/mongo-document-store';
export * from './analytics/analytics.projection';
export * from './analytics/analytics-queries';
export * from './analytics/pipeline-policy';
export * from './analytics/rejection-log';
