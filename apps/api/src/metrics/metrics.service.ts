import { Inject, Injectable } from '@nestjs/common';
import { EventStore, SqliteEventStore } from '@flash/event-store';
import { DocumentStore, ProjectionHost, SALE_SUMMARY } from '@flash/read-models';
import { ANALYTICS_HOST, DOCUMENT_STORE } from '../analytics/analytics.providers';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { availableStock } from '@flash/domain';
import { Clock, CLOCK, Inventories, LogIndexer, SaleCatalogue } from '@flash/command-side';
import { SagaHost } from '../sagas/saga-host';
import { EVENT_STORE } from '@flash/runtime';
import { BucketHistogram } from './bucket-histogram';
import { HotPathCounters, LATENCY_BUCKETS } from './hot-path-counters';

/**
 * Prometheus metrics. Hot-path counters are plain increments; everything else is read from live state when
 * Prometheus scrapes (collect callbacks), so measuring costs the request path nothing.
 */
@Injectable()
export class MetricsService {
  readonly registry: Registry;

  constructor(
    counters: HotPathCounters,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(CLOCK) clock: Clock,
    catalog: LogIndexer,
    catalogue: SaleCatalogue,
    inventory: Inventories,
    sagas: SagaHost,
    @Inject(ANALYTICS_HOST) analytics: ProjectionHost,
    @Inject(DOCUMENT_STORE) docs: DocumentStore,
  ) {
    this.registry = counters.registry;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    // The embedded store's fsync, off the event loop: what every durable append waits for (PostgreSQL commits inside
    // the append, which shard_append_duration_seconds measures for both).
    const syncs = new BucketHistogram(this.registry, {
      name: 'event_store_sync_duration_seconds',
      help: 'Duration of each fdatasync of the SQLite event store\'s log (one covers every commit made before it began)',
      buckets: LATENCY_BUCKETS,
    }).series();
    if (store instanceof SqliteEventStore) store.observeSyncs((seconds) => syncs.observe(seconds));

    const writers = () => inventory.loadedInventories().flatMap((i) => i.writers);
    new Counter({
      name: 'shard_occ_conflicts_total',
      help: 'Shard appends that failed (optimistic-concurrency conflict or unknown outcome) and were re-decided',
      registers,
      collect() {
        // The writers keep the running total; a counter shows it as it stands.
        this.reset();
        this.inc(writers().reduce((n, w) => n + w.metrics.conflicts, 0));
      },
    });
    new Gauge({
      name: 'shard_queue_depth',
      help: 'Commands waiting for their shard writer',
      registers,
      collect() {
        this.set(writers().reduce((n, w) => n + w.queued, 0));
      },
    });
    new Gauge({
      name: 'projection_lag_events',
      help: 'Events in the store not yet applied, by follower',
      labelNames: ['follower'],
      registers,
      async collect() {
        const head = await store.headPosition();
        this.set({ follower: 'catalog' }, Math.max(0, head - catalog.position));
        // With WORKER=external, as the worker last posted it.
        const status = sagas.status(clock.now());
        if (status) this.set({ follower: 'sagas' }, Math.max(0, head - status.position));
        this.set({ follower: 'analytics' }, Math.max(0, head - analytics.progress().position));
      },
    });
    new Gauge({
      name: 'projection_lag_seconds',
      help: 'Age of the oldest event the analytics projection has not applied yet',
      labelNames: ['projection'],
      registers,
      collect() {
        const progress = analytics.progress();
        this.set({ projection: progress.projection }, progress.lagMs / 1000);
      },
    });
    new Gauge({
      name: 'saga_backlog',
      help: 'Pending saga work items (holds to expire, quotas to release, claims to settle, gate releases)',
      labelNames: ['process'],
      registers,
      collect() {
        for (const [name, s] of Object.entries(sagas.status(clock.now())?.processes ?? {})) this.set({ process: name }, s.backlog);
      },
    });
    new Gauge({
      name: 'saga_timer_lag_seconds',
      help: 'How late the most overdue saga work item is',
      labelNames: ['process'],
      registers,
      collect() {
        for (const [name, s] of Object.entries(sagas.status(clock.now())?.processes ?? {})) this.set({ process: name }, s.overdueMs / 1000);
      },
    });
    new Gauge({
      name: 'shard_stock_units',
      help: 'Stock of each shard this process has loaded, from its writer (cumulative units reserved, paid, released; allocated; available now)',
      labelNames: ['sale', 'shard', 'state'],
      registers,
      collect() {
        for (const inv of inventory.loadedInventories()) {
          for (const w of inv.writers) {
            const { saleId, shard, allocated, reserved, paid, released } = w.state;
            const labels = { sale: saleId, shard: String(shard) };
            this.set({ ...labels, state: 'available' }, availableStock(w.state));
            this.set({ ...labels, state: 'allocated' }, allocated);
            this.set({ ...labels, state: 'reserved' }, reserved);
            this.set({ ...labels, state: 'paid' }, paid);
            this.set({ ...labels, state: 'released' }, released);
          }
        }
      },
    });
    new Gauge({
      name: 'sale_oversold',
      help: 'Invariant 1 as the analytics projection sees it, folded from the log apart from the shard writers: 1 when a sale shows more units taken than allocated',
      labelNames: ['sale'],
      registers,
      async collect() {
        const summaries = analytics.collection(SALE_SUMMARY);
        for (const { definition } of catalogue.allSales()) {
          const summary = await docs.get(summaries, definition.saleId);
          if (summary) this.set({ sale: definition.saleId }, typeof summary.available === 'number' && summary.available < 0 ? 1 : 0);
        }
      },
    });
  }
}
