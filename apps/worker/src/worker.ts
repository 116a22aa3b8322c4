import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Clock, Inventories, LocalShardAccess, LogIndexer, openCommandSide } from '@flash/command-side';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { DocumentStore, ProjectionHost } from '@flash/read-models';
import {
  analyticsProjectionHost,
  AppConfig,
  LeasedJob,
  LeasedWork,
  LeaseStore,
  Logger,
  openDocumentStore,
  openEventStore,
  openGate,
  registerFollowerMetrics,
  RedisLeaseStore,
  openStatusBoard,
  SqliteLeaseStore,
  storeScope,
} from '@flash/runtime';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { LogFollower, SAGAS_CHECKPOINT, sagaFollower, SAGA_CHECKPOINTS_FILE, SqliteCheckpointStore, StatusBoard } from '@flash/sagas';
import { MetricsEndpoint } from './metrics-endpoint';

/** How often, at most, the worker reads the head of a server store (see Worker.open). */
const WORKER_FOLLOW_MS = 100;
/** After a batch that reached the head, the analytics projection waits this long before the next (see Worker.open). */
const ANALYTICS_FOLLOW_MS = 250;

/** The worker's jobs: each runs on one worker at a time, under a lease of its own. */
export const WORKER_JOBS = { sagas: 'sagas', analytics: 'projection:analytics' } as const;

/**
 * The worker process (`npm run worker`, with the api on WORKER=external): the sagas (expiry, quota release,
 * compensation, and gate sync when the gate is Redis, shared) and the analytics projection, on the store the api
 * writes. Its shard writers decide on the same streams as the api's, with optimistic concurrency, and catch up from
 * the log as soon as it shows the api's appends; every effect is idempotent, so after a crash it resumes from its
 * checkpoint.
 *
 * Several workers may run: each job is leased (LeasedJob), in Redis when REDIS_URL is set, else in the sagas'
 * checkpoint file in DATA_DIR (workers on one host). The holder runs the job; the others stand by and take it over,
 * from its checkpoint, within WORKER_LEASE_MS of the holder's death. The sagas' checkpoints carry the lease's fence, so
 * a deposed holder cannot move them.
 */
export class Worker {
  private reporting: NodeJS.Timeout | undefined;
  /** GET /metrics, when WORKER_METRICS_PORT is set. */
  private metricsEndpoint: MetricsEndpoint | undefined;

  private constructor(
    private readonly logger: Logger,
    private readonly store: EventStore,
    private readonly gate: EligibilityGate | undefined,
    private readonly docs: DocumentStore,
    private readonly indexes: LogIndexer,
    private readonly inventories: Inventories,
    private readonly checkpoints: SqliteCheckpointStore,
    private readonly board: StatusBoard & { close(): void },
    private readonly leases: LeaseStore,
    private readonly jobs: readonly LeasedJob[],
    private readonly status: () => unknown,
    private readonly reportEveryMs: number,
    private readonly metrics: { readonly registry: Registry; readonly host: string; readonly port: number | undefined },
  ) {}

  static async open(config: AppConfig, logger: Logger, clock: Clock): Promise<Worker> {
    // Nothing the worker does needs another process's append sooner than its next sweep or a tenth of a second, and a
    // standby only keeps its indexes warm: on a server store it follows the log at that pace, one read per interval
    // instead of one per commit of every api replica.
    const store = await openEventStore(config, { followEveryMs: Math.min(WORKER_FOLLOW_MS, config.sweepIntervalMs) });
    // Checkpoints and embedded read models live in DATA_DIR whatever the store (per host, so far).
    fs.mkdirSync(config.dataDir, { recursive: true });
    // An in-process gate lives in the api, which keeps it in step itself; a Redis gate is shared, and synced here.
    const gate = config.redisUrl ? await openGate(config) : undefined;
    const docs = await openDocumentStore(config);
    const now = (): number => clock.now();
    const { catalogue, inventories, indexes, buyers, gateKeeper } = openCommandSide(store, clock, logger, {
      maxBatch: config.shardMaxBatch,
      soleClaimant: false, // the api claims; the worker only releases
    });
    const keeper = gate && gateKeeper(gate, logger.child({ component: 'gate' }), () => undefined);
    const checkpointFile = path.join(config.dataDir, SAGA_CHECKPOINTS_FILE);
    const checkpoints = new SqliteCheckpointStore(checkpointFile);
    // Where the sagas' holder posts their status for the api replicas: Redis when there is one, else DATA_DIR.
    const board = openStatusBoard(config, checkpoints) ?? checkpoints;
    const leases: LeaseStore = config.redisUrl
      ? new RedisLeaseStore(new Redis(config.redisUrl, { maxRetriesPerRequest: 1 }), storeScope(config))
      : new SqliteLeaseStore(checkpointFile);
    const holder = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    const leaseLog = logger.child({ component: 'leases', holder });
    let sagasStatus: () => unknown = () => undefined;
    let runningProjection: ProjectionHost | undefined;

    const sagasJob = new LeasedJob(
      leases,
      WORKER_JOBS.sagas,
      holder,
      async (fence): Promise<LeasedWork> => {
        const sagas = sagaFollower(
          {
            store,
            checkpoints,
            inventory: new LocalShardAccess(catalogue, inventories, indexes),
            quota: buyers,
            ...(keeper === undefined ? {} : { gate: keeper }),
            logger: logger.child({ component: 'sagas', fence }),
            now,
          },
          { sweepIntervalMs: config.sweepIntervalMs, compensationSettleMs: config.compensationSettleMs, clientWindowMs: config.purchaseTokenTtlMs, fence },
        );
        await sagas.start();
        sagasStatus = () => sagas.status(clock.now());
        return {
          stop: async () => {
            sagasStatus = () => undefined;
            await sagas.stop();
            // What the stopped shard writers still had queued is decided now, not by whoever takes over.
            await inventories.flush();
          },
        };
      },
      leaseLog,
      { ttlMs: config.workerLeaseMs },
    );
    const analyticsJob = new LeasedJob(
      leases,
      WORKER_JOBS.analytics,
      holder,
      async (): Promise<LeasedWork> => {
        // Analysts read figures, not single reservations: a quarter of a second more lag folds a stretch of the log per
        // batch (one write of each document it touched) instead of a few events per commit.
        const projection = analyticsProjectionHost(store, docs, config, logger, now, { followEveryMs: ANALYTICS_FOLLOW_MS });
        await projection.start('run');
        runningProjection = projection;
        return {
          stop: async () => {
            runningProjection = undefined;
            await projection.stop();
          },
        };
      },
      leaseLog,
      { ttlMs: config.workerLeaseMs },
    );
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // A standby reports what it runs: the lag of the jobs it holds, nothing for the others.
    registerFollowerMetrics(registry, {
      store,
      catalogPosition: () => indexes.position,
      sagas: () => sagasStatus() as ReturnType<LogFollower['status']> | undefined,
      analytics: () => runningProjection,
      docs,
      saleIds: () => catalogue.allSales().map((sale) => sale.definition.saleId),
    });
    return new Worker(logger, store, gate, docs, indexes, inventories, checkpoints, board, leases, [sagasJob, analyticsJob], () => sagasStatus(), config.sweepIntervalMs, {
      registry,
      host: config.host,
      port: config.workerMetricsPort,
    });
  }

  /** Catches up with the log (sales, orders), then runs the jobs whose leases it gets and stands by for the others. */
  async start(): Promise<void> {
    // Listening first: while the worker catches up, its lag is exactly what Prometheus should see.
    if (this.metrics.port !== undefined) {
      this.metricsEndpoint = await MetricsEndpoint.listen(this.metrics.registry, this.metrics.host, this.metrics.port);
      this.logger.info({ port: this.metricsEndpoint.port }, 'worker metrics on GET /metrics');
    }
    await this.indexes.start();
    for (const job of this.jobs) await job.start();
    // The api reports the sagas' backlog (/health/ready, /metrics): it reads what the sagas' holder posts, once per sweep.
    this.report();
    this.reporting = setInterval(() => this.report(), this.reportEveryMs);
    this.reporting.unref();
    this.logger.info({ position: this.indexes.position, leading: this.leading(), standingBy: this.jobs.filter((j) => !j.leading).map((j) => j.job) }, 'worker running');
  }

  /** The jobs this worker runs now. */
  leading(): string[] {
    return this.jobs.filter((j) => j.leading).map((j) => j.job);
  }

  private report(): void {
    const status = this.status();
    if (status === undefined) return; // a standby: the holder reports
    try {
      this.board.report(SAGAS_CHECKPOINT, status, Date.now());
    } catch (error) {
      this.logger.warn({ err: error }, 'could not post the sagas\' status');
    }
  }

  /** The port GET /metrics listens on (WORKER_METRICS_PORT, or the one the system chose for 0); undefined when off. */
  get metricsPort(): number | undefined {
    return this.metricsEndpoint?.port;
  }

  /** Stops the jobs it runs (giving their leases up, so a standby takes over at once), then closes what it opened. */
  async stop(): Promise<void> {
    if (this.reporting) clearInterval(this.reporting);
    await this.metricsEndpoint?.close();
    this.report();
    for (const job of this.jobs) await job.stop();
    await this.inventories.flush();
    this.indexes.stop();
    await this.leases.close();
    if (this.board !== this.checkpoints) this.board.close();
    this.checkpoints.close();
    await this.docs.close();
    await this.gate?.close();
    await this.store.close();
  }
}
