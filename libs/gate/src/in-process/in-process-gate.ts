import { AdmitRequest, EligibilityGate, GateHold, GateSaleTerms, GateSnapshot, GateVerdict } from '../gate.port';

interface SaleGate {
  readonly terms: GateSaleTerms;
  readonly available: number[];
  readonly users: Map<string, number>;
  readonly holds: Map<string, GateHold>;
}

/** The embedded twin of the Redis gate: the same decisions on in-process maps (one process, one event loop). */
export class InProcessGate implements EligibilityGate {
  private readonly sales = new Map<string, SaleGate>();

  async load(s: GateSnapshot): Promise<void> {
    const users = new Map<string, number>();
    const holds = new Map<string, GateHold>();
    for (const h of s.holds) {
      holds.set(h.reservationId, h);
      users.set(h.userId, (users.get(h.userId) ?? 0) + h.quantity);
    }
    const { saleId, startsAt, endsAt, perUserLimit } = s;
    this.sales.set(saleId, { terms: { saleId, startsAt, endsAt, perUserLimit }, available: [...s.available], users, holds });
  }

  async admit(r: AdmitRequest): Promise<GateVerdict> {
    const sale = this.sales.get(r.saleId);
    if (!sale) return { kind: 'not-loaded' };
    const known = sale.holds.get(r.reservationId);
    if (known) return { kind: 'known', shard: known.shard };
    if (r.now < sale.terms.startsAt) return { kind: 'refused', code: 'SALE_NOT_STARTED' };
    if (r.now >= sale.terms.endsAt) return { kind: 'refused', code: 'SALE_ENDED' };
    const used = sale.users.get(r.userId) ?? 0;
    if (used + r.quantity > sale.terms.perUserLimit) return { kind: 'refused', code: 'LIMIT_EXCEEDED' };
    const shards = sale.available.length;
    for (let i = 0; i < shards; i++) {
      const shard = (r.startShard + i) % shards;
      if ((sale.available[shard] ?? 0) >= r.quantity) {
        if (r.takeStock) sale.available[shard] = (sale.available[shard] ?? 0) - r.quantity;
        sale.users.set(r.userId, used + r.quantity);
        sale.holds.set(r.reservationId, { reservationId: r.reservationId, userId: r.userId, shard, quantity: r.quantity, stockTaken: r.takeStock });
        return { kind: 'admitted', shard };
      }
    }
    return { kind: 'refused', code: 'SOLD_OUT' };
  }

  async release(saleId: string, reservationId: string): Promise<void> {
    const sale = this.sales.get(saleId);
    const hold = sale?.holds.get(reservationId);
    if (!sale || !hold) return;
    sale.holds.delete(reservationId);
    if (hold.stockTaken) sale.available[hold.shard] = (sale.available[hold.shard] ?? 0) + hold.quantity;
    const left = (sale.users.get(hold.userId) ?? 0) - hold.quantity;
    if (left > 0) sale.users.set(hold.userId, left);
    else sale.users.delete(hold.userId);
  }

  async correct(saleId: string, shard: number, available: number): Promise<void> {
    const sale = this.sales.get(saleId);
    if (sale && shard < sale.available.length) sale.available[shard] = Math.min(sale.available[shard] ?? 0, available);
  }

  async inspect(saleId: string) {
    const sale = this.sales.get(saleId);
    if (!sale) return undefined;
    return { available: [...sale.available], users: Object.fromEntries(sale.users), holds: sale.holds.size };
  }

  /** Test hook: forget everything, as a flushed Redis would. */
  forget(): void {
    this.sales.clear();
  }

  async close(): Promise<void> {
    this.sales.clear();
  }
}
