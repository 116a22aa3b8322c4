import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { AnalyticsHost } from './analytics/analytics-host';
import { Inventories, LogIndexer } from '@flash/command-side';
import { ELIGIBILITY_GATE, SHARD_LEASES } from './command-side.providers';
import { EVENT_STORE, LeasedShardOwnership, Logger, LOGGER } from '@flash/runtime';
import { SagaHost } from './sagas/saga-host';

/**
 * Shutdown in one explicit order. Nest runs this after the HTTP server has stopped taking requests and drained
 * the in-flight ones: stop the sagas (finishing their current tick), settle every queued shard command, give the shard leases back, write the read models' last batch and rejection counts, stop following the log, then close the store.
 */
@Injectable()
export class Lifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly inventory: Inventories,
    private readonly catalog: LogIndexer,
    private readonly sagas: SagaHost,
    private readonly analytics: AnalyticsHost,
    @Inject(ELIGIBILITY_GATE) private readonly gate: EligibilityGate,
    @Inject(SHARD_LEASES) private readonly shardLeases: LeasedShardOwnership | null,
  ) {}

  async onApplicationShutdown(signal?: string): Promise<void> {
    await this.sagas.stop();
    await this.inventory.flush();
    // Every shard given back at once: the other replicas take them at their next round, not a lease later.
    await this.shardLeases?.stop();
    await this.analytics.stop();
    this.catalog.stop();
    await this.gate.close();
    await this.store.close();
    this.logger.info({ signal }, 'stopped cleanly');
  }
}
