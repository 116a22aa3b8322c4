import { Inject, Injectable } from '@nestjs/common';
import { EventStore, SqliteEventStore } from '@flash/event-store';
import { DocumentStore, ProjectionHost } from '@flash/read-models';
import { ANALYTICS_HOST, DOCUMENT_STORE } from '../analytics/analytics.providers';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { availableStock } from '@flash/domain';
import { Clock, CLOCK, Inventories, LogIndexer, SaleCatalogue } from '@flash/command-side';
import { SagaHost } from '../sagas/saga-host';
import { EVENT_STORE, registerFollowerMetrics } from '@flash/runtime';
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
    registerFollowerMetrics(this.registry, {
      store,
      catalogPosition: () => catalog.position,
      sagas: () => sagas.status(clock.now()),
      analytics: () => analytics,
      docs,
      saleIds: () => catalogue.allSales().map((sale) => sale.definition.saleId),
    });
    new Gauge({
      name: 'shard_owned',
      help: 'Whether this replica owns each shard it has loaded (1) or would write it only as a guest (0): several replicas on one store hold shards under leases in Redis',
      labelNames: ['sale', 'shard'],
      registers,
      collect() {
        this.reset();
        for (const inv of inventory.loadedInventories()) for (const w of inv.writers) this.set({ sale: inv.sale.saleId, shard: String(w.state.shard) }, Number(inv.owns(w.state.shard)));
      },
    });
    new Counter({
      name: 'shard_guest_reservations_total',
      help: 'Reservations this replica decided on a shard another replica owned (its own had run dry, or ownership was moving)',
      labelNames: ['sale'],
      registers,
      collect() {
        this.reset();
        for (const inv of inventory.loadedInventories()) this.inc({ sale: inv.sale.saleId }, inv.guestReservations);
      },
    });
    new Gauge({
      name: 'shard_stock_units',
      help: 'Stock of each shard this process has loaded, from its writer (cumulative units reserved, paid, released; allocated; available now); a shard another replica owns as of this one\'s last read of it (at most a lease round old)',
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
  }
}
