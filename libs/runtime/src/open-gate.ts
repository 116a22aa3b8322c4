import { EligibilityGate, InProcessGate, RedisGate } from '@flash/gate';
import { AppConfig } from './config';

/** The Redis gate when REDIS_URL is set (shared by every api instance), else the in-process twin. */
export const openGate = async (config: AppConfig): Promise<EligibilityGate> =>
  config.redisUrl ? RedisGate.connect(config.redisUrl) : new InProcessGate();
