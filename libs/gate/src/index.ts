export * from './gate.port';
export { InProcessGate } from './in-process/in-process-gate';
export { RedisGate, UnsafeRedisConfiguration } from './redis/redis-gate';
