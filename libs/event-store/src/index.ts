export * from './event-store.port';
export * from './catch-up-subscription';
export { MemoryEventStore } from './memory/memory-event-store';
export { SqliteEventStore } from './sqlite/sqlite-event-store';
export type { SqliteEventStoreOptions, SqliteSynchronous } from './sqlite/sqlite-event-store';
export * from './codec/domain-event-codec';
export * from './codec/load-stream';
export * from './sqlite/sqlite-log-reader';
