import { EventStore } from '@flash/event-store';
import type { Logger } from 'pino';
import { LogFollower } from './log-follower';
import { CheckpointStore, ShardAccess, QuotaPort } from './ports';
import { CompensationProcess } from './processes/compensation.process';
import { ExpiryProcess } from './processes/expiry.process';
import { GateReleasePort, GateSyncProcess } from './processes/gate-sync.process';
import { LogProcess } from './processes/log-process';
import { QuotaReleaseProcess } from './processes/quota-release.process';

export interface SagaPorts {
  readonly store: EventStore;
  readonly checkpoints: CheckpointStore;
  readonly inventory: ShardAccess;
  readonly quota: QuotaPort;
  /** The eligibility gate to keep in step, when this process can reach it (see `gateSyncHere`). */
  readonly gate?: GateReleasePort;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface SagaSettings {
  /** SWEEP_INTERVAL_MS: how often due work (expiries, compensation) is looked for. */
  readonly sweepIntervalMs: number;
  /** COMPENSATION_SETTLE_MS. */
  readonly compensationSettleMs: number;
  /** A purchase attempt's window (PURCHASE_TOKEN_TTL_MS): a claim older than this with no order is compensated. */
  readonly clientWindowMs: number;
  /** The fence of the worker's job lease, when several workers may run the sagas (see LeasedJob). */
  readonly fence?: number;
}

/** Where the sagas' checkpoints live in DATA_DIR (api with WORKER=embedded, or the worker). */
export const SAGA_CHECKPOINTS_FILE = 'worker.sqlite';

/** The checkpoint name of the saga follower: the same in the api (embedded) and in the worker, so either resumes the other. */
export const SAGAS_CHECKPOINT = 'sagas';

/**
 * The sagas on one log follower: expiry, quota release, compensation, and gate sync when a gate is given. Where they
 * run is the deployment's choice (WORKER=embedded: in the api; external: in `npm run worker`); what they do is this.
 */
export const sagaFollower = (ports: SagaPorts, settings: SagaSettings): LogFollower => {
  const { store, checkpoints, inventory, quota, gate, logger, now } = ports;
  const processes: LogProcess[] = [
    new ExpiryProcess(inventory, logger),
    new QuotaReleaseProcess(quota, logger),
    new CompensationProcess(inventory, quota, logger, { settleAfterMs: settings.compensationSettleMs, clientWindowMs: settings.clientWindowMs }),
    ...(gate === undefined ? [] : [new GateSyncProcess(gate, logger)]),
  ];
  return new LogFollower(store, checkpoints, processes, logger, { name: SAGAS_CHECKPOINT, tickIntervalMs: settings.sweepIntervalMs, now, ...(settings.fence === undefined ? {} : { fence: settings.fence }) });
};

/**
 * Gate sync alone, for the process that holds an in-process gate (the api, when the sagas run in the worker): the
 * gate's state lives there, so its upkeep must too. Its checkpoint is its own.
 */
export const gateSyncFollower = (
  store: EventStore,
  checkpoints: CheckpointStore,
  gate: GateReleasePort,
  logger: Logger,
  settings: Pick<SagaSettings, 'sweepIntervalMs'> & { now: () => number },
): LogFollower => new LogFollower(store, checkpoints, [new GateSyncProcess(gate, logger)], logger, { name: 'gate-sync', tickIntervalMs: settings.sweepIntervalMs, now: settings.now });
