import { Inject, Injectable } from '@nestjs/common';
import { DomainEvent, SaleDefinition } from '@flash/domain';
import { decodeEvent, EventStore, RecordedEvent, Subscription } from '@flash/event-store';
import { Logger, LOGGER } from '../logger';
import { EVENT_STORE } from '../store/event-store.provider';

export interface CatalogSale {
  readonly definition: SaleDefinition;
  readonly allocations: readonly number[];
  readonly closed: boolean;
}

/** Above the largest shard count a sale may have (API.md: shards 1..256). */
const SHARD_SLOTS = 1024;

export interface OrderLocation {
  readonly saleId: string;
  readonly shard: number;
}

/**
 * An in-memory projection of the global log that the command side needs to route: the sales that exist and the
 * shard each order lives on. Fed by a catch-up subscription from position 0 at start (the api is not ready until
 * it has caught up), and directly by the command handlers after their own appends (read-your-writes). Both paths
 * apply idempotently, so seeing an event twice changes nothing.
 */
@Injectable()
export class SaleCatalog {
  private readonly sales = new Map<string, CatalogSale>();
  /**
   * One entry per order of every sale, so kept small: the value packs the sale's index in `saleIds` and the
   * shard (shards < SHARD_SLOTS) into one small integer instead of an object per order.
   */
  private readonly orders = new Map<string, number>();
  private readonly saleIds: string[] = [];
  private readonly saleIndex = new Map<string, number>();
  /** Per sale, the users whose buyer stream has a claim: the others need no read to know they hold no key. */
  private readonly claimants = new Map<string, Set<string>>();
  private subscription: Subscription | undefined;
  private appliedPosition = 0;
  private caughtUp = false;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Replays the log up to its current head, then keeps following it. */
  async start(): Promise<void> {
    const head = await this.store.headPosition();
    const started = Date.now();
    const subscription = this.store.subscribeToAll(0);
    this.subscription = subscription;
    const iterator = subscription[Symbol.asyncIterator]();
    while (this.appliedPosition < head) {
      const next = await iterator.next();
      if (next.done) return;
      this.applyRecorded(next.value);
      if (this.appliedPosition % 100_000 === 0) this.logger.info({ position: this.appliedPosition, head }, 'catalog catching up');
    }
    this.caughtUp = true;
    this.logger.info({ head, ms: Date.now() - started, sales: this.sales.size, orders: this.orders.size }, 'catalog caught up');
    void this.follow(iterator);
  }

  private async follow(iterator: AsyncIterator<RecordedEvent>): Promise<void> {
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) this.applyRecorded(next.value);
    } catch (error) {
      this.caughtUp = false;
      this.logger.error({ err: error }, 'catalog subscription failed');
    }
  }

  get ready(): boolean {
    return this.caughtUp;
  }

  get position(): number {
    return this.appliedPosition;
  }

  private applyRecorded(recorded: RecordedEvent): void {
    this.appliedPosition = recorded.position;
    if (recorded.type.startsWith('Sale') || recorded.type === 'OrderPlaced' || recorded.type === 'QuotaClaimed') this.apply(decodeEvent(recorded));
  }

  apply(event: DomainEvent): void {
    switch (event.type) {
      case 'SaleScheduled': {
        if (this.sales.has(event.data.saleId)) return;
        const { scheduledAt: _scheduledAt, ...definition } = event.data;
        this.sales.set(definition.saleId, { definition, allocations: [], closed: false });
        return;
      }
      case 'SaleStockAllocated': {
        const sale = this.sales.get(event.data.saleId);
        if (sale) this.sales.set(event.data.saleId, { ...sale, allocations: event.data.allocations });
        return;
      }
      case 'SaleClosed': {
        const sale = this.sales.get(event.data.saleId);
        if (sale) this.sales.set(event.data.saleId, { ...sale, closed: true });
        return;
      }
      case 'OrderPlaced':
        this.orders.set(event.data.orderId, this.indexOf(event.data.saleId) * SHARD_SLOTS + event.data.shard);
        return;
      case 'QuotaClaimed':
        this.noteClaimant(event.data.saleId, event.data.userId);
        return;
      default:
        return;
    }
  }

  sale(saleId: string): CatalogSale | undefined {
    return this.sales.get(saleId);
  }

  allSales(): CatalogSale[] {
    return [...this.sales.values()];
  }

  /**
   * Whether this buyer may have claimed in this sale. False is certain only where this process is the one writer
   * of the store (SQLite) and notes every claim before appending it; callers check that.
   */
  mayHaveClaimed(saleId: string, userId: string): boolean {
    return this.claimants.get(saleId)?.has(userId) === true;
  }

  /** Called before a claim is appended, so a retry racing the log subscription still reads the buyer stream. */
  noteClaimant(saleId: string, userId: string): void {
    let users = this.claimants.get(saleId);
    if (users === undefined) this.claimants.set(saleId, (users = new Set()));
    users.add(userId);
  }

  locateOrder(orderId: string): OrderLocation | undefined {
    const packed = this.orders.get(orderId);
    if (packed === undefined) return undefined;
    return { saleId: this.saleIds[Math.floor(packed / SHARD_SLOTS)] as string, shard: packed % SHARD_SLOTS };
  }

  private indexOf(saleId: string): number {
    let index = this.saleIndex.get(saleId);
    if (index === undefined) {
      index = this.saleIds.push(saleId) - 1;
      this.saleIndex.set(saleId, index);
    }
    return index;
  }

  stop(): void {
    this.subscription?.close();
  }
}
