import fs from 'node:fs';
import path from 'node:path';
import { Clock, Inventories, LocalShardAccess, LogIndexer, openCommandSide } from '@flash/command-side';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { DocumentStore, ProjectionHost } from '@flash/read-models';
import { analyticsProjectionHost, AppConfig, Logger, openDocumentStore, openEventStore, openGate, registerFollowerMetrics } from '@flash/runtime';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { LogFollower, SAGAS_CHECKPOINT, sagaFollower, SAGA_CHECKPOINTS_FILE, SqliteCheckpointStore } from '@flash/sagas';
import { MetricsEndpoint } from './metrics-endpoint';

/**
 * The worker process (`npm run worker`, with the api on WORKER=external): the sagas (expiry, quota release,
 * compensation, and gate sync when the gate is Redis, shared) and the analytics projection, on the store the api
 * writes. Its shard writers decide on the same streams as the api's, with optimistic concurrency, and catch up from
 * the log as soon as it shows the api's appends; every effect is idempotent, so after a crash it resumes from its
 * checkpoint.
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
    private readonly sagas: LogFollower,
    private readonly checkpoints: SqliteCheckpointStore,
    readonly projection: ProjectionHost,
    private readonly clock: Clock,
    private readonly reportEveryMs: number,
    private readonly metrics: { readonly registry: Registry; readonly host: string; readonly port: number | undefined },
  ) {}

  static async open(config: AppConfig, logger: Logger, clock: Clock): Promise<Worker> {
    const store = await openEventStore(config);
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
    const checkpoints = new SqliteCheckpointStore(path.join(config.dataDir, SAGA_CHECKPOINTS_FILE));
    const sagas = sagaFollower(
      {
        store,
        checkpoints,
        inventory: new LocalShardAccess(catalogue, inventories, indexes),
        quota: buyers,
        ...(keeper === undefined ? {} : { gate: keeper }),
        logger: logger.child({ component: 'sagas' }),
        now,
      },
      { sweepIntervalMs: config.sweepIntervalMs, compensationSettleMs: config.compensationSettleMs, clientWindowMs: config.purchaseTokenTtlMs },
    );
    const projection = analyticsProjectionHost(store, docs, config, logger, now);
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    registerFollowerMetrics(registry, {
      store,
      catalogPosition: () => indexes.position,
      sagas: () => sagas.status(clock.now()),
      analytics: projection,
      docs,
      saleIds: () => catalogue.allSales().map((sale) => sale.definition.saleId),
    });
    return new Worker(logger, store, gate, docs, indexes, inventories, sagas, checkpoints, projection, clock, config.sweepIntervalMs, {
      registry,
      host: config.host,
      port: config.workerMetricsPort,
    });
  }

  /** Catches up with the log (sales, orders), then starts the sagas and the projection. */
  async start(): Promise<void> {
    // Listening first: while the worker catches up, its lag is exactly what Prometheus should see.
    if (this.metrics.port !== undefined) {
      this.metricsEndpoint = await MetricsEndpoint.listen(this.metrics.registry, this.metrics.host, this.metrics.port);
      this.logger.info({ port: this.metricsEndpoint.port }, 'worker metrics on GET /metrics');
    }
    await this.indexes.start();
    await this.sagas.start();
    await this.projection.start('run');
    // The api reports the sagas' backlog (/health/ready, /metrics): it reads what is posted here, once per sweep.
    this.report();
    this.reporting = setInterval(() => this.report(), this.reportEveryMs);
    this.reporting.unref();
    this.logger.info({ position: this.indexes.position }, 'worker running');
  }

  /** Finishes the current sweep, settles queued shard commands, writes the projection's last batch, closes the store. */
  private report(): void {
    try {
      this.checkpoints.report(SAGAS_CHECKPOINT, this.sagas.status(this.clock.now()), Date.now());
    } catch (error) {
      this.logger.warn({ err: error }, 'could not post the sagas\' status');
    }
  }

  /** The port GET /metrics listens on (WORKER_METRICS_PORT, or the one the system chose for 0); undefined when off. */
  get metricsPort(): number | undefined {
    return this.metricsEndpoint?.port;
  }

  async stop(): Promise<void> {
    if (this.reporting) clearInterval(this.reporting);
    await this.metricsEndpoint?.close();
    await this.sagas.stop();
    this.report();
    await this.inventories.flush();
    await this.projection.stop();
    this.indexes.stop();
    this.checkpoints.close();
    await this.docs.close();
    await this.gate?.close();
    await this.store.close();
  }
}
