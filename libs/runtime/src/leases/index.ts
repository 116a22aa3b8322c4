export * from './lease-store';
export * from './leased-job';
export * from './redis-lease-store';
export * from './sqlite-lease-store';
export * from './redis-status-board';
export * from './shard-leases';
