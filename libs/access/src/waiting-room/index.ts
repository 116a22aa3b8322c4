export * from './admission-queue.port';
export * from './admission-rate';
export * from './in-process-admission-queue';
export * from './queue-tickets';
export * from './redis-admission-queue';
