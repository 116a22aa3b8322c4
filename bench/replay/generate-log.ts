import path from 'node:path';
import {
  BuyerEvent,
  buyerDecider,
  buyerStream,
  DomainEvent,
  initialBuyerState,
  inventoryShardDecider,
  inventoryStream,
  SaleDefinition,
  saleDecider,
  saleStream,
  ShardCommand,
  ShardState,
  availableStock,
} from '@flash/domain';
import { CommandMetadata, encodeEvent, ExpectedRevision, NO_STREAM, reservationIdFor, SqliteEventStore } from '@flash/event-store';

/** 2030-01-01T00:00:00Z: the generated history runs on a simulated clock from here. */
const T0 = Date.UTC(2030, 0, 1);
const SHARDS = 16;
const HOLD_TTL_MS = 60_000;
/** Simulated time between two buyers' attempts: long enough that holds expire during the sale. */
const BUYER_INTERVAL_MS = 3;
/** Appends issued before waiting for them: the store commits one event-loop turn's appends in one transaction. */
const APPENDS_PER_COMMIT = 2000;

export interface GeneratedLog {
  readonly events: number;
  readonly sales: number;
  readonly buyers: number;
  readonly orders: number;
  readonly mix: Record<string, number>;
  readonly seconds: number;
}

interface PendingExpiry {
  readonly shard: number;
  readonly orderId: string;
  readonly userId: string;
  readonly dueAt: number;
}

/**
 * Writes a realistic history of ≥ `targetEvents` events straight through SqliteEventStore (synchronous OFF: this is
 * setup, not the measurement), every event decided by the domain's own deciders and encoded with `encodeEvent`:
 * several sales, each with buyers who claim quota and reserve on a shard; of the orders 70% are paid, 20% expire
 * (ReservationExpired + StockReleased, then QuotaReleased) and 10% are cancelled; once stock runs out, attempts end
 * in QuotaReleased (sold_out). Every hold ends, every claim settles: the audit must find no violation.
 */
export const generateLog = async (dataDir: string, targetEvents: number, onProgress: (events: number) => void): Promise<GeneratedLog> => {
  const started = performance.now();
  let now = T0;
  const store = new SqliteEventStore({ file: path.join(dataDir, 'events.sqlite'), synchronous: 'OFF', now: () => now });
  const revisions = new Map<string, ExpectedRevision>();
  let inFlight: Promise<unknown>[] = [];
  let events = 0;
  let reported = 0;
  const mix: Record<string, number> = {};

  const append = async (streamId: string, decided: readonly DomainEvent[], metadata: CommandMetadata): Promise<void> => {
    if (decided.length === 0) return;
    const expected = revisions.get(streamId) ?? NO_STREAM;
    revisions.set(streamId, (expected === NO_STREAM ? -1 : expected) + decided.length);
    inFlight.push(store.append(streamId, decided.map((e) => encodeEvent(streamId, e, metadata)), expected));
    events += decided.length;
    for (const e of decided) mix[e.type] = (mix[e.type] ?? 0) + 1;
    if (inFlight.length >= APPENDS_PER_COMMIT) {
      const batch = inFlight;
      inFlight = [];
      await Promise.all(batch);
      if (events - reported >= 100_000) {
        reported = events;
        onProgress(events);
      }
    }
  };

  const salesCount = Math.max(1, Math.min(8, Math.round(targetEvents / 100_000)));
  const perSale = Math.ceil(targetEvents / salesCount);
  let buyers = 0;
  let orders = 0;

  for (let s = 0; s < salesCount; s++) {
    const saleId = `bench-sale-${s}`;
    // ~4 events per buyer; stock for ~60% of the buyers, plus what expiries and cancellations give back.
    const expectedBuyers = Math.ceil(perSale / 4);
    const definition: SaleDefinition = {
      saleId,
      sku: `SKU-${s}`,
      name: `replay sale ${s}`,
      price: 1999,
      totalStock: Math.max(SHARDS, Math.round(expectedBuyers * 0.6)),
      shards: SHARDS,
      startsAt: now,
      endsAt: now + 7 * 24 * 3600_000,
      perUserLimit: 1,
      inventoryMode: 'reserve',
      holdTtlMs: HOLD_TTL_MS,
      challenge: 'none',
    };
    const scheduled = saleDecider.decide({ type: 'ScheduleSale', definition }, saleDecider.initialState(), now);
    await append(saleStream(saleId), scheduled, { userId: 'bench-admin', decidedAt: now });
    const allocations = (scheduled[1] as Extract<DomainEvent, { type: 'SaleStockAllocated' }>).data.allocations;
    const shards: ShardState[] = allocations.map((allocated, shard) =>
      inventoryShardDecider.initialState({ saleId, shard, allocated, inventoryMode: 'reserve', holdTtlMs: HOLD_TTL_MS, unitPrice: definition.price }),
    );
    const expiries: PendingExpiry[] = [];
    const buyerStates = new Map<string, ReturnType<typeof initialBuyerState>>();

    const onShard = async (shard: number, command: ShardCommand, metadata: CommandMetadata): Promise<void> => {
      const state = shards[shard] as ShardState;
      const decided = inventoryShardDecider.decide(command, state, now);
      shards[shard] = decided.reduce(inventoryShardDecider.evolve, state);
      await append(inventoryStream(saleId, shard), decided, metadata);
    };
    const onBuyer = async (userId: string, decided: BuyerEvent[], metadata: CommandMetadata): Promise<void> => {
      const stream = buyerStream(saleId, userId);
      const state = decided.reduce(buyerDecider.evolve, buyerStates.get(stream) ?? initialBuyerState(saleId, userId));
      buyerStates.set(stream, state);
      await append(stream, decided, metadata);
    };
    const release = async (userId: string, reservationId: string, reason: 'sold_out' | 'expired' | 'cancelled', metadata: CommandMetadata): Promise<void> => {
      const stream = buyerStream(saleId, userId);
      const state = buyerStates.get(stream) ?? initialBuyerState(saleId, userId);
      await onBuyer(userId, buyerDecider.decide({ type: 'ReleaseQuota', reservationId, reason }, state, now), metadata);
      buyerStates.delete(stream);
    };
    const expireDue = async (): Promise<void> => {
      while (expiries.length > 0 && (expiries[0] as PendingExpiry).dueAt <= now) {
        const due = expiries.shift() as PendingExpiry;
        const metadata = { correlationId: due.orderId, decidedAt: now };
        await onShard(due.shard, { type: 'ExpireReservation', orderId: due.orderId }, metadata);
        await release(due.userId, due.orderId, 'expired', metadata);
      }
    };

    const saleStart = events;
    for (let b = 0; events - saleStart < perSale; b++) {
      now += BUYER_INTERVAL_MS;
      await expireDue();
      const userId = `u${s}x${b}`;
      const idempotencyKey = `key-${s}-${b}-attempt`;
      const reservationId = reservationIdFor(saleId, userId, idempotencyKey);
      const metadata: CommandMetadata = { correlationId: reservationId, userId, clientIpHash: `ip${(b % 5000).toString(36).padStart(20, '0')}`, decidedAt: now };
      buyers++;
      const claim = buyerDecider.decide(
        { type: 'ClaimQuota', saleId, userId, reservationId, idempotencyKey, quantity: 1, perUserLimit: 1 },
        initialBuyerState(saleId, userId),
        now,
      );
      await onBuyer(userId, claim, metadata);
      const start = b % SHARDS;
      const shard = [...Array(SHARDS).keys()].map((i) => (start + i) % SHARDS).find((i) => availableStock(shards[i] as ShardState) >= 1);
      if (shard === undefined) {
        await release(userId, reservationId, 'sold_out', metadata);
        continue;
      }
      await onShard(shard, { type: 'ReserveStock', orderId: reservationId, userId, quantity: 1 }, metadata);
      orders++;
      const fate = b % 10;
      if (fate < 7) {
        await onShard(shard, { type: 'PayOrder', orderId: reservationId, paymentId: `pay-${reservationId}`, amount: definition.price }, metadata);
        buyerStates.delete(buyerStream(saleId, userId));
      } else if (fate < 9) {
        expiries.push({ shard, orderId: reservationId, userId, dueAt: now + HOLD_TTL_MS });
      } else {
        await onShard(shard, { type: 'CancelOrder', orderId: reservationId }, metadata);
        await release(userId, reservationId, 'cancelled', metadata);
      }
    }
    // The sweeper catches up with every hold still open when the sale's traffic ends.
    now += HOLD_TTL_MS;
    await expireDue();
  }
  await Promise.all(inFlight);
  await store.close();
  return { events, sales: salesCount, buyers, orders, mix, seconds: (performance.now() - started) / 1000 };
};
