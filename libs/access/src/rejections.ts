/** Called on every refusal counted, e.g. to increment a Prometheus counter labelled by code. */
export type RejectionListener = (saleId: string, code: string) => void;

export interface RejectionCounterOptions {
  /** Sales tracked at most; refusals for further sales are only passed to the listener. */
  readonly maxSales?: number;
  readonly onRecord?: RejectionListener;
}

/**
 * Every refused purchase by sale and reason code: who was turned away and why (the `rejections` of the sale
 * summary, fairness evidence). In memory and per instance; the analytics read model sums instances later.
 * Bounded, because sale ids in refused requests come from clients.
 */
export class RejectionCounter {
  private readonly bySale = new Map<string, Map<string, number>>();
  private readonly maxSales: number;
  private readonly onRecord: RejectionListener | undefined;

  constructor(options: RejectionCounterOptions = {}) {
    this.maxSales = options.maxSales ?? 10_000;
    this.onRecord = options.onRecord;
  }

  record(saleId: string, code: string): void {
    let counts = this.bySale.get(saleId);
    if (!counts && this.bySale.size < this.maxSales) this.bySale.set(saleId, (counts = new Map<string, number>()));
    if (counts) counts.set(code, (counts.get(code) ?? 0) + 1);
    this.onRecord?.(saleId, code);
  }

  /** `{CODE: count}` for one sale; empty when nothing was refused. */
  forSale(saleId: string): Record<string, number> {
    return Object.fromEntries(this.bySale.get(saleId) ?? []);
  }

  /** `{saleId: {CODE: count}}`, a copy. */
  snapshot(): Record<string, Record<string, number>> {
    return Object.fromEntries([...this.bySale.keys()].map((saleId) => [saleId, this.forSale(saleId)]));
  }
}
