import type { DegradationLevel } from '@flash/access';
import { availableStock, ShardState } from '@flash/domain';
import { CatalogSale } from '@flash/command-side';

export type SaleStatus = 'scheduled' | 'open' | 'sold_out' | 'ended';

const iso = (ms: number): string => new Date(ms).toISOString();

export const saleStatus = (sale: CatalogSale, available: number, now: number): SaleStatus => {
  const { startsAt, endsAt } = sale.definition;
  if (sale.closed || now >= endsAt) return 'ended';
  if (now < startsAt) return 'scheduled';
  return available <= 0 ? 'sold_out' : 'open';
};

/**
 * GET /sales/:id — public, cacheable for a second. `degradationLevel` is the level in force (PUT /admin/degradation):
 * at 3 the sale page drops a share of clicks before sending them (seed 000's front-end level).
 */
export const publicSaleView = (sale: CatalogSale, available: number, now: number, degradationLevel: DegradationLevel) => {
  const d = sale.definition;
  return {
    id: d.saleId,
    sku: d.sku,
    name: d.name,
    price: d.price,
    status: saleStatus(sale, available, now),
    startsAt: iso(d.startsAt),
    endsAt: iso(d.endsAt),
    serverTime: iso(now),
    perUserLimit: d.perUserLimit,
    availableApprox: Math.max(0, available),
    inventoryMode: d.inventoryMode,
    challenge: d.challenge,
    degradationLevel,
  };
};

/** Per-shard cumulative counts in units, as API.md defines them for GET /admin/sales/:id. */
export const shardView = (s: ShardState) => ({
  shard: s.shard,
  allocated: s.allocated,
  reserved: s.reserved,
  paid: s.paid,
  released: s.released,
  available: availableStock(s),
});

export const adminSaleView = (sale: CatalogSale, shards: readonly ShardState[], now: number, projectionLag: { events: number }) => {
  const d = sale.definition;
  const views = shards.map(shardView);
  const sum = (k: 'allocated' | 'reserved' | 'paid' | 'released' | 'available'): number => views.reduce((n, v) => n + v[k], 0);
  return {
    id: d.saleId,
    sku: d.sku,
    name: d.name,
    price: d.price,
    totalStock: d.totalStock,
    shardCount: d.shards,
    startsAt: iso(d.startsAt),
    endsAt: iso(d.endsAt),
    perUserLimit: d.perUserLimit,
    inventoryMode: d.inventoryMode,
    holdTtlMs: d.holdTtlMs,
    challenge: d.challenge,
    ...(d.waitingRoom ? { waitingRoom: d.waitingRoom } : {}),
    status: saleStatus(sale, sum('available'), now),
    totals: { allocated: sum('allocated'), reserved: sum('reserved'), paid: sum('paid'), released: sum('released'), available: sum('available') },
    shards: views,
    projectionLag,
  };
};
