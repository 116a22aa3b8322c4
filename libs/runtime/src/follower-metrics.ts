import { Gauge, Registry } from 'prom-client';
import { EventStore, LagCounters } from '@flash/event-store';
import { DocumentStore, ProjectionHost, SALE_SUMMARY } from '@flash/read-models';

/** What a saga follower reports (libs/sagas FollowerStatus): the position it applied, and each process' backlog. */
export interface SagaStatus {
  readonly position: number;
  readonly processes: Readonly<Record<string, { readonly backlog: number; readonly overdueMs: number }>>;
}

/** Where the followers of the log stand in this process, read when Prometheus scrapes. */
export interface FollowerMetricsSources {
  readonly store: Pick<EventStore, 'headPosition' | 'readAll'> & { readonly densePositions?: boolean };
  /** The command side's indexes (catalog, order locator): the position they applied. */
  readonly catalogPosition: () => number;
  /** The sagas: run here, or (the api with WORKER=external) as the worker last posted them; undefined before that. */
  readonly sagas: () => SagaStatus | undefined;
  /** The analytics projection run (or watched) here; undefined in a worker standing by for it. */
  readonly analytics: () => ProjectionHost | undefined;
  /** The read models the analytics projection writes (the oversell check reads its sale summaries). */
  readonly docs: DocumentStore;
  /** The sales known to this process. */
  readonly saleIds: () => Iterable<string>;
}

/**
 * The metrics of the log's followers — lag, saga backlog and timer lag, and invariant 1 as the analytics projection
 * sees it — defined once for the two processes that export them: the api (GET /metrics) and the worker
 * (WORKER_METRICS_PORT). Everything is read at the scrape; nothing is counted on a request's path.
 */
export const registerFollowerMetrics = (registry: Registry, sources: FollowerMetricsSources): void => {
  const registers = [registry];
  const { store, analytics, docs } = sources;
  const lag = new LagCounters(store);
  new Gauge({
    name: 'projection_lag_events',
    help: 'Events in the store not yet applied, by follower',
    labelNames: ['follower'],
    registers,
    async collect() {
      const head = await store.headPosition();
      // Counted, not subtracted: positions may be sparse (EventStoreDB's are log offsets); then reused a few seconds.
      this.set({ follower: 'catalog' }, await lag.count('catalog', sources.catalogPosition(), head));
      const sagas = sources.sagas();
      if (sagas) this.set({ follower: 'sagas' }, await lag.count('sagas', sagas.position, head));
      const projection = analytics();
      if (projection) this.set({ follower: 'analytics' }, await lag.count('analytics', projection.progress().position, head));
    },
  });
  new Gauge({
    name: 'projection_lag_seconds',
    help: 'Age of the oldest event the analytics projection has not applied yet',
    labelNames: ['projection'],
    registers,
    collect() {
      const progress = analytics()?.progress();
      if (progress) this.set({ projection: progress.projection }, progress.lagMs / 1000);
    },
  });
  new Gauge({
    name: 'saga_backlog',
    help: 'Pending saga work items (holds to expire, quotas to release, claims to settle, gate releases)',
    labelNames: ['process'],
    registers,
    collect() {
      for (const [name, s] of Object.entries(sources.sagas()?.processes ?? {})) this.set({ process: name }, s.backlog);
    },
  });
  new Gauge({
    name: 'saga_timer_lag_seconds',
    help: 'How late the most overdue saga work item is',
    labelNames: ['process'],
    registers,
    collect() {
      for (const [name, s] of Object.entries(sources.sagas()?.processes ?? {})) this.set({ process: name }, s.overdueMs / 1000);
    },
  });
  new Gauge({
    name: 'sale_oversold',
    help: 'Invariant 1 as the analytics projection sees it, folded from the log apart from the shard writers: 1 when a sale shows more units taken than allocated',
    labelNames: ['sale'],
    registers,
    async collect() {
      const projection = analytics();
      if (projection === undefined) return;
      const summaries = projection.collection(SALE_SUMMARY);
      for (const saleId of sources.saleIds()) {
        const summary = await docs.get(summaries, saleId);
        if (summary) this.set({ sale: saleId }, typeof summary.available === 'number' && summary.available < 0 ? 1 : 0);
      }
    },
  });
};
