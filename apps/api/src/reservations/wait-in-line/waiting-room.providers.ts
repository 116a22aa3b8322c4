import { Provider } from '@nestjs/common';
import { AdmissionQueue, AdmissionRate, deriveKey, InProcessAdmissionQueue, QueueTickets, RedisAdmissionQueue } from '@flash/access';
import { AppConfig } from '@flash/runtime';
import { ADMISSION_QUEUE } from './waiting-room.tokens';
import { WaitingRoom } from './waiting-room';

/** The waiting room: its line in Redis with REDIS_URL (shared by every api replica), in this process otherwise. */
export const waitingRoomProviders = (config: AppConfig): Provider[] => [
  {
    provide: ADMISSION_QUEUE,
    useFactory: (): AdmissionQueue => (config.redisUrl ? RedisAdmissionQueue.connect(config.redisUrl) : new InProcessAdmissionQueue()),
  },
  { provide: QueueTickets, useFactory: () => new QueueTickets(deriveKey(config.jwtSecret, 'queue-ticket')) },
  {
    provide: AdmissionRate,
    useFactory: () =>
      new AdmissionRate(
        {
          eventLoopDelayMs: config.waitingRoomMaxLoopDelayMs,
          appendLatencyMs: config.waitingRoomMaxAppendMs,
          sagaBacklog: config.waitingRoomMaxSagaBacklog,
        },
        config.waitingRoomAdaptive,
      ),
  },
  WaitingRoom,
];
