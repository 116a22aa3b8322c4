/**
 * Property tests of DESIGN.md "Invariants" over one sale: random sequences of buyer and shard commands, applied the
 * way the application applies them (buyer stream first, compensation, quota released when an order ends), with
 * the invariants re-checked from the state and the log after every step.
 */
import fc from 'fast-check';
import { buyerDecider, BuyerState, claimForKey, claimForReservation } from './buyer/buyer.decider';
import { QuotaReleaseReason } from './buyer/buyer.events';
import { fold } from './decider';
import { DomainError, SoldOut } from './errors';
import { availableStock, inventoryShardDecider, isLiveHold, Order, ShardCommand, ShardState } from './inventory-shard/inventory-shard.decider';
import { ShardEvent } from './inventory-shard/inventory-shard.events';
import { saleDecider } from './sale/sale.decider';
import { InventoryMode, SaleDefinition } from './sale/sale.events';

const SALE = 'sale-1';
const USERS = ['u0', 'u1', 'u2'] as const;
const KEYS_PER_USER = 4;
const PAYMENTS_PER_ORDER = 3;

type Step =
  /** A buyer asks for `quantity` under an Idempotency-Key; `crashBeforeShard` stops after the buyer append. */
  | { kind: 'order'; dt: number; user: number; key: number; quantity: number; shard: number; crashBeforeShard: boolean }
  /** The compensation saga settles a claim whose shard append never happened. */
  | { kind: 'compensate'; dt: number; pick: number }
  /** A payment webhook; the same (order, payment) pair is a redelivery. */
  | { kind: 'pay'; dt: number; pick: number; payment: number; wrongAmount: boolean }
  | { kind: 'cancel'; dt: number; pick: number }
  | { kind: 'expire'; dt: number; pick: number }
  /** The expiry sweeper: expires every due hold. */
  | { kind: 'sweep'; dt: number };

interface Reservation {
  readonly reservationId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly shard: number;
}

interface World {
  readonly sale: SaleDefinition;
  readonly shards: ShardState[];
  readonly shardLogs: ShardEvent[][];
  readonly buyers: Map<string, BuyerState>;
  /** Every reservation a claim was made for, in order, with the shard it was routed to. */
  readonly reservations: Reservation[];
  now: number;
}

const saleArb = fc
  .record({
    inventoryMode: fc.constantFrom<InventoryMode>('reserve', 'on-order', 'on-payment'),
    // Small stock half the time, so shards run out and late payments meet an empty shelf.
    totalStock: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 12 })),
    shards: fc.integer({ min: 1, max: 3 }),
    perUserLimit: fc.integer({ min: 1, max: 3 }),
    holdTtlMs: fc.integer({ min: 1_000, max: 4_000 }),
    price: fc.integer({ min: 0, max: 5_000 }),
  })
  .map(
    (s): SaleDefinition => ({
      saleId: SALE,
      sku: 'SKU-1',
      name: 'Item',
      price: s.price,
      totalStock: s.totalStock,
      shards: Math.min(s.shards, s.totalStock),
      perUserLimit: Math.min(s.perUserLimit, s.totalStock),
      startsAt: 0,
      endsAt: 1_000_000,
      inventoryMode: s.inventoryMode,
      holdTtlMs: s.holdTtlMs,
      challenge: 'none',
    }),
  );

const dt = fc.integer({ min: 0, max: 1_500 });
const pick = fc.nat({ max: 40 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('order' as const),
      dt,
      user: fc.nat({ max: USERS.length - 1 }),
      key: fc.nat({ max: KEYS_PER_USER - 1 }),
      quantity: fc.integer({ min: 1, max: 3 }),
      shard: fc.nat({ max: 2 }),
      crashBeforeShard: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compensate' as const), dt, pick }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('pay' as const),
      dt,
      pick,
      payment: fc.nat({ max: PAYMENTS_PER_ORDER - 1 }),
      wrongAmount: fc.nat({ max: 3 }).map((n) => n === 0),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), dt, pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt, pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const), dt }) },
);

/** Runs a decision; a rejected command (a DomainError) changes nothing, anything else is a bug. */
const attempt = <Event>(decide: () => Event[]): Event[] | DomainError => {
  try {
    return decide();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
};

const openWorld = (sale: SaleDefinition): World => {
  const saleState = fold(saleDecider.evolve, saleDecider.initialState(), saleDecider.decide({ type: 'ScheduleSale', definition: sale }, saleDecider.initialState(), 0));
  if (saleState.status !== 'scheduled') throw new Error('the generated sale must be valid');
  const shards = saleState.allocations.map((allocated, shard) =>
    inventoryShardDecider.initialState({ saleId: SALE, shard, allocated, inventoryMode: sale.inventoryMode, holdTtlMs: sale.holdTtlMs, unitPrice: sale.price }),
  );
  return { sale, shards, shardLogs: shards.map(() => []), buyers: new Map(), reservations: [], now: 0 };
};

const buyerOf = (world: World, userId: string): BuyerState => world.buyers.get(userId) ?? buyerDecider.initialState();

const releaseQuota = (world: World, userId: string, reservationId: string, reason: QuotaReleaseReason): void => {
  const state = buyerOf(world, userId);
  const events = buyerDecider.decide({ type: 'ReleaseQuota', reservationId, reason }, state, world.now);
  world.buyers.set(userId, fold(buyerDecider.evolve, state, events));
};

/** Decides on a shard, appends, and runs the process manager that gives quota back when an order ends. */
const onShard = (world: World, shard: number, command: ShardCommand): ShardEvent[] | DomainError => {
  const state = world.shards[shard]!;
  const outcome = attempt(() => inventoryShardDecider.decide(command, state, world.now));
  if (outcome instanceof DomainError) return outcome;
  const next = fold(inventoryShardDecider.evolve, state, outcome);
  world.shards[shard] = next;
  world.shardLogs[shard]!.push(...outcome);
  for (const event of outcome) {
    const order = next.orders.get(event.data.orderId)!;
    if (event.type === 'ReservationExpired') releaseQuota(world, order.userId, order.orderId, 'expired');
    if (event.type === 'OrderCancelled') releaseQuota(world, order.userId, order.orderId, 'cancelled');
    if (event.type === 'PaymentRefundRequested' && event.data.reason === 'sold_out') releaseQuota(world, order.userId, order.orderId, 'refunded');
  }
  return outcome;
};

/** The shard append of a claimed reservation; a sold-out shard hands the quota back. */
const placeOnShard = (world: World, r: Reservation, releaseReason: QuotaReleaseReason): void => {
  const outcome = onShard(world, r.shard, { type: 'ReserveStock', orderId: r.reservationId, userId: r.userId, quantity: r.quantity });
  if (outcome instanceof SoldOut) releaseQuota(world, r.userId, r.reservationId, releaseReason);
};

/** A known reservation, or now and then none at all (index = length), which the step sends to an unknown order. */
const pickReservation = (world: World, index: number): Reservation | undefined =>
  world.reservations.length === 0 ? undefined : world.reservations[index % (world.reservations.length + 1)];

const apply = (world: World, step: Step): void => {
  world.now += step.dt;
  switch (step.kind) {
    case 'order': {
      const userId = USERS[step.user]!;
      const idempotencyKey = `key-${step.key}`;
      const before = buyerOf(world, userId);
      const reservationId = `${userId}/${idempotencyKey}`;
      const claim = attempt(() =>
        buyerDecider.decide(
          { type: 'ClaimQuota', saleId: SALE, userId, reservationId, idempotencyKey, quantity: step.quantity, perUserLimit: world.sale.perUserLimit },
          before,
          world.now,
        ),
      );
      if (claim instanceof DomainError) return;
      world.buyers.set(userId, fold(buyerDecider.evolve, before, claim));
      if (claim.length > 0) {
        const reservation = { reservationId, userId, quantity: step.quantity, shard: step.shard % world.shards.length };
        world.reservations.push(reservation);
        if (!step.crashBeforeShard) placeOnShard(world, reservation, 'sold_out');
        return;
      }
      // A retry: it finds the first claim and redoes the shard append, which is idempotent by orderId.
      const known = claimForKey(before, idempotencyKey);
      const reservation = world.reservations.find((r) => r.reservationId === known?.reservationId);
      if (known && !known.released && reservation) placeOnShard(world, reservation, 'sold_out');
      return;
    }
    case 'compensate': {
      const r = pickReservation(world, step.pick);
      if (!r) return;
      const claim = claimForReservation(buyerOf(world, r.userId), r.reservationId);
      if (claim && !claim.released && !world.shards[r.shard]!.orders.has(r.reservationId)) placeOnShard(world, r, 'compensated');
      return;
    }
    case 'pay': {
      const r = pickReservation(world, step.pick);
      const orderId = r?.reservationId ?? 'ghost';
      const amount = (r?.quantity ?? 1) * world.sale.price + (step.wrongAmount ? 1 : 0);
      onShard(world, r?.shard ?? 0, { type: 'PayOrder', orderId, paymentId: `${orderId}#pay-${step.payment}`, amount });
      return;
    }
    case 'cancel':
    case 'expire': {
      const r = pickReservation(world, step.pick);
      const orderId = r?.reservationId ?? 'ghost';
      onShard(world, r?.shard ?? 0, { type: step.kind === 'cancel' ? 'CancelOrder' : 'ExpireReservation', orderId });
      return;
    }
    case 'sweep':
      world.shards.forEach((state, shard) => {
        for (const order of [...state.orders.values()]) onShard(world, shard, { type: 'ExpireReservation', orderId: order.orderId });
      });
      return;
  }
};

const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const v of values) total += v;
  return total;
};
const quantities = (orders: Iterable<Order>, keep: (o: Order) => boolean): number => sum([...orders].filter(keep).map((o) => o.quantity));
const unitsOf = (log: readonly ShardEvent[], type: 'StockReserved' | 'StockReleased'): number =>
  sum(log.flatMap((e) => (e.type === type ? [e.data.quantity] : [])));

/** Every invariant broken by the world as it stands, in words; empty when all hold. */
const violations = (world: World): string[] => {
  const broken: string[] = [];
  const check = (holds: boolean, what: () => string): void => {
    if (!holds) broken.push(what());
  };
  const refundsByPayment = new Map<string, number>();
  world.shards.forEach((state, shard) => {
    const log = world.shardLogs[shard]!;
    const reserved = unitsOf(log, 'StockReserved');
    const released = unitsOf(log, 'StockReleased');
    // 1. Never oversold, recomputed from the log (what the audit does), and the fold agrees with it.
    check(reserved - released <= state.allocated, () => `shard ${shard}: reserved ${reserved} − released ${released} > allocated ${state.allocated}`);
    check(released <= reserved, () => `shard ${shard}: released ${released} > reserved ${reserved}`);
    check(state.reserved === reserved && state.released === released, () => `shard ${shard}: fold counts differ from the log`);
    check(availableStock(state) >= 0, () => `shard ${shard}: available ${availableStock(state)} < 0`);
    // Stock conservation: every unit is on the shelf, in a live hold, or sold.
    const orders = [...state.orders.values()];
    const held = quantities(orders, isLiveHold);
    const sold = quantities(orders, (o) => o.status === 'paid');
    check(
      availableStock(state) + held + sold === state.allocated,
      () => `shard ${shard}: available ${availableStock(state)} + held ${held} + sold ${sold} ≠ allocated ${state.allocated}`,
    );
    check(state.paid === sold, () => `shard ${shard}: paid counter ${state.paid} ≠ paid orders ${sold}`);
    // 3. No order both paid and given back; each is reserved, paid and released at most once.
    const ordersWith = (type: ShardEvent['type']): string[] => log.flatMap((e) => (e.type === type ? [e.data.orderId] : []));
    for (const type of ['StockReserved', 'OrderPaid', 'StockReleased'] as const) {
      const ids = ordersWith(type);
      check(new Set(ids).size === ids.length, () => `shard ${shard}: an order has two ${type}`);
    }
    const releasedOrders = new Set(ordersWith('StockReleased'));
    for (const orderId of ordersWith('OrderPaid')) check(!releasedOrders.has(orderId), () => `order ${orderId} is both paid and released`);
    for (const e of log) {
      // Every OrderPaid was placed and paid before its deadline: past it, the hold is lost even if no sweeper ran.
      if (e.type === 'OrderPaid') {
        const order = state.orders.get(e.data.orderId);
        check(order !== undefined && (order.expiresAt === undefined || e.data.paidAt < order.expiresAt), () => `order ${e.data.orderId} paid after its deadline`);
      }
      if (e.type === 'PaymentRefundRequested') refundsByPayment.set(e.data.paymentId, (refundsByPayment.get(e.data.paymentId) ?? 0) + 1);
    }
  });
  // Exactly-once effects: a redelivered webhook never owes the money back twice.
  for (const [paymentId, refunds] of refundsByPayment) check(refunds === 1, () => `payment ${paymentId} refunded ${refunds} times`);

  // 2. Per-user limit: the buyer's claimed units are its live orders plus the claims not yet placed on a shard.
  const placedOn = new Map(world.reservations.map((r) => [r.reservationId, world.shards[r.shard]!.orders.get(r.reservationId)]));
  for (const [userId, buyer] of world.buyers) {
    const claimed = buyer.claimedQuantity;
    check(claimed <= world.sale.perUserLimit, () => `buyer ${userId}: claimed ${claimed} > limit ${world.sale.perUserLimit}`);
    const unreleased = [...buyer.claimsByKey.values()].filter((c) => c.released === undefined);
    check(claimed === sum(unreleased.map((c) => c.quantity)), () => `buyer ${userId}: claimed ${claimed} ≠ its unreleased claims`);
    const live = sum(
      world.shards.map((state) =>
        quantities(state.orders.values(), (o) => o.userId === userId && (o.status === 'reserved' || o.status === 'placed' || o.status === 'paid')),
      ),
    );
    const notYetPlaced = sum(unreleased.filter((c) => placedOn.get(c.reservationId) === undefined).map((c) => c.quantity));
    check(claimed === live + notYetPlaced, () => `buyer ${userId}: claimed ${claimed} ≠ live orders ${live} + claims not yet placed ${notYetPlaced}`);
  }
  return broken;
};

const stepsArb = fc.array(stepArb, { minLength: 1, maxLength: 60, size: 'max' });

describe('domain invariants over random command sequences', () => {
  it('never oversells, never exceeds a buyer limit, and conserves stock and money', () => {
    fc.assert(
      fc.property(saleArb, stepsArb, (sale, steps) => {
        const world = openWorld(sale);
        for (const [index, step] of steps.entries()) {
          apply(world, step);
          expect({ afterStep: index, broken: violations(world) }).toStrictEqual({ afterStep: index, broken: [] });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reaches the interesting outcomes, so the property is not vacuous', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(saleArb, stepsArb, (sale, steps) => {
        const world = openWorld(sale);
        for (const step of steps) apply(world, step);
        for (const log of world.shardLogs) for (const e of log) seen.add(e.type === 'PaymentRefundRequested' ? `refund:${e.data.reason}` : e.type);
        for (const buyer of world.buyers.values()) for (const c of buyer.claimsByKey.values()) if (c.released) seen.add(`quota:${c.released}`);
      }),
      { numRuns: 1_000, seed: 42 },
    );
    expect([...seen].sort()).toStrictEqual(
      [
        'OrderCancelled',
        'OrderPaid',
        'OrderPlaced',
        'ReservationExpired',
        'StockReleased',
        'StockReserved',
        'quota:cancelled',
        'quota:compensated',
        'quota:expired',
        'quota:refunded',
        'quota:sold_out',
        'refund:already_paid',
        'refund:amount_mismatch',
        'refund:order_cancelled',
        'refund:order_expired',
        'refund:sold_out',
      ].sort(),
    );
  });
});
