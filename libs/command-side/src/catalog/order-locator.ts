import { DomainEvent } from '@flash/domain';

/** Above the largest shard count a sale may have (API.md: shards 1..256). */
const SHARD_SLOTS = 1024;

export interface OrderLocation {
  readonly saleId: string;
  readonly shard: number;
}

/**
 * Which sale and shard each order lives on. One entry per order of every sale, so kept small: the value packs the
 * sale's index in `saleIds` and the shard (shards < SHARD_SLOTS) into one small integer instead of an object per order.
 */
export class OrderLocator {
  private readonly orders = new Map<string, number>();
  private readonly saleIds: string[] = [];
  private readonly saleIndex = new Map<string, number>();

  reads(type: string): boolean {
    return type === 'OrderPlaced';
  }

  apply(event: DomainEvent): void {
    if (event.type === 'OrderPlaced') this.place(event.data.orderId, event.data.saleId, event.data.shard);
  }

  /** Records where an order lives (from its OrderPlaced, or from a catalog snapshot). */
  place(orderId: string, saleId: string, shard: number): void {
    this.orders.set(orderId, this.indexOf(saleId) * SHARD_SLOTS + shard);
  }

  /** Every order located, for a catalog snapshot. */
  *entries(): IterableIterator<readonly [orderId: string, location: OrderLocation]> {
    for (const orderId of this.orders.keys()) yield [orderId, this.locate(orderId) as OrderLocation];
  }

  locate(orderId: string): OrderLocation | undefined {
    const packed = this.orders.get(orderId);
    if (packed === undefined) return undefined;
    return { saleId: this.saleIds[Math.floor(packed / SHARD_SLOTS)] as string, shard: packed % SHARD_SLOTS };
  }

  get size(): number {
    return this.orders.size;
  }

  private indexOf(saleId: string): number {
    let index = this.saleIndex.get(saleId);
    if (index === undefined) {
      index = this.saleIds.push(saleId) - 1;
      this.saleIndex.set(saleId, index);
    }
    return index;
  }
}
