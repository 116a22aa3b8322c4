import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { BuyerQuota, Clock, CLOCK, GateKeeper, Inventories, LogIndexer, SaleCatalogue, LocalShardAccess } from '@flash/command-side';
import { EventStore } from '@flash/event-store';
import {
  CheckpointStore,
  FollowerStatus,
  gateSyncFollower,
  LogFollower,
  MemoryCheckpointStore,
  SAGAS_CHECKPOINT,
  sagaFollower,
  SAGA_CHECKPOINTS_FILE,
  SqliteCheckpointStore,
  StatusBoard,
} from '@flash/sagas';
import { APP_CONFIG, AppConfig, EVENT_STORE, Logger, LOGGER, openStatusBoard } from '@flash/runtime';


/**
 * The sagas in the api process. WORKER=embedded: all of them (expiry, quota release, compensation, gate sync) on this
 * process's shard writers. WORKER=external: the worker runs them; only the gate sync stays, and only for an in-process
 * gate, whose state lives here (a Redis gate is kept in step by the worker).
 */
@Injectable()
export class SagaHost {
  readonly follower: LogFollower | undefined;
  private readonly checkpoints: CheckpointStore;
  /** WORKER=external: where the worker posts its sagas' status. */
  private readonly board: (StatusBoard & { close(): void }) | undefined;
  /** The board in DATA_DIR, which the Redis one reads beside (or is the board itself without Redis). */
  private readonly localBoard: (StatusBoard & { close(): void }) | undefined;

  constructor(
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(CLOCK) clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) logger: Logger,
    catalogue: SaleCatalogue,
    inventories: Inventories,
    indexes: LogIndexer,
    quota: BuyerQuota,
    gate: GateKeeper,
  ) {
    const log = logger.child({ component: 'sagas' });
    const now = (): number => clock.now();
    if (config.worker === 'embedded') {
      this.checkpoints = config.inMemoryStore ? new MemoryCheckpointStore() : new SqliteCheckpointStore(path.join(config.dataDir, SAGA_CHECKPOINTS_FILE));
      this.follower = sagaFollower(
        { store, checkpoints: this.checkpoints, inventory: new LocalShardAccess(catalogue, inventories, indexes), quota, gate, logger: log, now },
        { sweepIntervalMs: config.sweepIntervalMs, compensationSettleMs: config.compensationSettleMs, clientWindowMs: config.purchaseTokenTtlMs },
      );
    } else {
      // An in-process gate is rebuilt from the store at start: its sync need not remember a position across restarts.
      this.checkpoints = new MemoryCheckpointStore();
      this.follower = config.redisUrl ? undefined : gateSyncFollower(store, this.checkpoints, gate, log, { sweepIntervalMs: config.sweepIntervalMs, now });
      // The worker running the sagas posts there: in Redis when there is one (any host), else beside its checkpoints.
      const local = config.inMemoryStore ? undefined : new SqliteCheckpointStore(path.join(config.dataDir, SAGA_CHECKPOINTS_FILE));
      this.board = openStatusBoard(config, local);
      this.localBoard = local;
    }
  }

  /**
   * Where the sagas stand, whichever process runs them: this one's follower (WORKER=embedded), or what the worker last
   * posted (WORKER=external) with this process's own gate sync laid over it; undefined before anything is known.
   */
  status(now: number): (FollowerStatus & { reportedAt?: number }) | undefined {
    const local = this.follower?.status(now);
    const posted = this.board?.reported(SAGAS_CHECKPOINT);
    if (posted === undefined) return local;
    const remote = posted.status as FollowerStatus;
    return { ...remote, processes: { ...remote.processes, ...local?.processes }, reportedAt: posted.reportedAt };
  }

  async start(): Promise<void> {
    await this.follower?.start();
  }

  async stop(): Promise<void> {
    await this.follower?.stop();
    this.checkpoints.close();
    this.board?.close();
    if (this.localBoard !== this.board) this.localBoard?.close();
  }
}
