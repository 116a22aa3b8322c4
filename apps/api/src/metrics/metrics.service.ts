import { Inject, Injectable } from '@nestjs/common';
import { EventStore, eventsBehind } from '@flash/event-store';
import { ProjectionHost } from '@flash/read-models';
import { ANALYTICS_HOST } from '../analytics/analytics.providers';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Clock, CLOCK, Inventories, LogIndexer } from '@flash/command-side';
import { SagaHost } from '../sagas/saga-host';
import { EVENT_STORE } from '@flash/runtime';
import { HotPathCounters } from './hot-path-counters';

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
    inventory: Inventories,
    sagas: SagaHost,
    @Inject(ANALYTICS_HOST) analytics: ProjectionHost,
  ) {
    this.registry = counters.registry;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    const writers = async () => inventory.loadedInventories().flatMap((i) => i.writers);
    new Gauge({
      name: 'shard_append_batches_total',
      help: 'Appends made by the shard writers (each one batch of commands, one fsync)',
      registers,
      async collect() {
        this.set((await writers()).reduce((n, w) => n + w.metrics.batches, 0));
      },
    });
    new Gauge({
      name: 'shard_commands_total',
      help: 'Commands decided by the shard writers; divided by batches it is the mean append batch size',
      registers,
      async collect() {
        this.set((await writers()).reduce((n, w) => n + w.metrics.commands, 0));
      },
    });
    new Gauge({
      name: 'shard_occ_conflicts_total',
      help: 'Shard appends that failed (optimistic-concurrency conflict or unknown outcome) and were re-decided',
      registers,
      async collect() {
        this.set((await writers()).reduce((n, w) => n + w.metrics.conflicts, 0));
      },
    });
    new Gauge({
      name: 'shard_queue_depth',
      help: 'Commands waiting for their shard writer',
      registers,
      async collect() {
        this.set((await writers()).reduce((n, w) => n + w.queued, 0));
      },
    });
    new Gauge({
      name: 'projection_lag_events',
      help: 'Events in the store not yet applied, by follower',
      labelNames: ['follower'],
      registers,
      async collect() {
        const head = await store.headPosition();
        // Counted, not subtracted: positions may be sparse (EventStoreDB).
        this.set({ follower: 'catalog' }, await eventsBehind(store, catalog.position, head));
        // With WORKER=external, as the worker last posted it.
        const status = sagas.status(clock.now());
        if (status) this.set({ follower: 'sagas' }, await eventsBehind(store, status.position, head));
        this.set({ follower: 'analytics' }, await eventsBehind(store, analytics.progress().position, head));
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
      name: 'saga_timer_lag_ms',
      help: 'How late the most overdue saga work item is',
      labelNames: ['process'],
      registers,
      collect() {
        for (const [name, s] of Object.entries(sagas.status(clock.now())?.processes ?? {})) this.set({ process: name }, s.overdueMs);
      },
    });
  }
}
