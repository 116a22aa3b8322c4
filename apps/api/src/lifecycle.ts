import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { EventStore } from '@flash/event-store';
import { InventoryService } from './inventory/inventory.service';
import { Logger, LOGGER } from './logger';
import { SaleCatalog } from './sales/sale-catalog';
import { EVENT_STORE } from './store/event-store.provider';

/**
 * Shutdown in one explicit order. Nest runs this after the HTTP server has stopped taking requests and drained
 * the in-flight ones: settle every queued shard command, stop following the log, then close the store.
 */
@Injectable()
export class Lifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly inventory: InventoryService,
    private readonly catalog: SaleCatalog,
  ) {}

  async onApplicationShutdown(signal?: string): Promise<void> {
    await this.inventory.flush();
    this.catalog.stop();
    await this.store.close();
    this.logger.info({ signal }, 'stopped cleanly');
  }
}
