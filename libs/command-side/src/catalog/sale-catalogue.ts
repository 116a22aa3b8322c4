import { DomainEvent, SaleDefinition } from '@flash/domain';

export interface CatalogSale {
  readonly definition: SaleDefinition;
  readonly allocations: readonly number[];
  readonly closed: boolean;
}

/** The sales that exist, as the command side routes by them: definition, shard allocations, closed or not. */
export class SaleCatalogue {
  private readonly sales = new Map<string, CatalogSale>();

  /** The sale's own events (a Sale… type this version does not know included: its decoding fails, loudly). */
  reads(type: string): boolean {
    return type.startsWith('Sale');
  }

  /** Applies a sale event; anything else, and a sale event seen twice, changes nothing. */
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
      default:
        return;
    }
  }

  /** A sale as a catalog snapshot kept it: replaces what is known of it (the snapshot is loaded before any event). */
  restore(sale: CatalogSale): void {
    this.sales.set(sale.definition.saleId, sale);
  }

  sale(saleId: string): CatalogSale | undefined {
    return this.sales.get(saleId);
  }

  allSales(): CatalogSale[] {
    return [...this.sales.values()];
  }

  get size(): number {
    return this.sales.size;
  }
}
