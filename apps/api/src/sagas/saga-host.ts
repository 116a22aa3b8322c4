import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { EventStore } from '@flash/event-store';
import {
  BuyerQuota,
  CheckpointStore,
  CompensationProcess,
  ExpiryProcess,
  GateSyncProcess,
  LogFollower,
  MemoryCheckpointStore,
  QuotaReleaseProcess,
  SqliteCheckpointStore,
} from '@flash/worker';
import { Clock, CLOCK } from '../clock';
import { APP_CONFIG, AppConfig } from '../config';
import { Logger, LOGGER } from '../logger';
import { EVENT_STORE } from '../store/event-store.provider';
import { GateKeeper } from '../gate/gate-keeper';
import { EmbeddedInventory } from './embedded-inventory';

export const SAGA_CHECKPOINTS_FILE = 'worker.sqlite';

/** Runs the worker's sagas inside the api process (embedded mode): expiry, quota release, compensation. */
@Injectable()
export class SagaHost {
  readonly follower: LogFollower;
  private readonly checkpoints: CheckpointStore;

  constructor(
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(CLOCK) clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) logger: Logger,
    inventory: EmbeddedInventory,
    gate: GateKeeper,
  ) {
    const log = logger.child({ component: 'sagas' });
    const quota = new BuyerQuota(store, () => clock.now());
    this.checkpoints = config.inMemoryStore ? new MemoryCheckpointStore() : new SqliteCheckpointStore(path.join(config.dataDir, SAGA_CHECKPOINTS_FILE));
    this.follower = new LogFollower(
      store,
      this.checkpoints,
      [
        new ExpiryProcess(inventory, log),
        new QuotaReleaseProcess(quota, log),
        new CompensationProcess(inventory, quota, log, { settleAfterMs: config.compensationSettleMs, clientWindowMs: config.purchaseTokenTtlMs }),
        new GateSyncProcess(gate, log),
      ],
      log,
      { name: 'sagas', tickIntervalMs: config.sweepIntervalMs, now: () => clock.now() },
    );
  }

  start(): Promise<void> {
    return this.follower.start();
  }

  async stop(): Promise<void> {
    await this.follower.stop();
    this.checkpoints.close();
  }
}
