import fc from 'fast-check';
import { DeciderSpec } from '../../test/decider-spec';
import { fold } from '../decider';
import { DomainError, InvalidCommand } from '../errors';
import { allocateStock, MAX_SHARDS, MAX_TOTAL_STOCK, MIN_HOLD_TTL_MS, saleDecider } from './sale.decider';
import { SaleDefinition, SaleEvent } from './sale.events';

const NOW = 500;

const definition = (overrides: Partial<SaleDefinition> = {}): SaleDefinition => ({
  saleId: 'sale-1',
  sku: 'PHONE-128',
  name: 'Phone 128 GB',
  price: 19_900,
  totalStock: 10,
  shards: 3,
  startsAt: 1_000,
  endsAt: 61_000,
  perUserLimit: 2,
  inventoryMode: 'reserve',
  holdTtlMs: 60_000,
  challenge: 'none',
  ...overrides,
});

const scheduled = (d: SaleDefinition = definition()): SaleEvent[] => [
  { type: 'SaleScheduled', data: { ...d, scheduledAt: NOW } },
  { type: 'SaleStockAllocated', data: { saleId: d.saleId, allocations: allocateStock(d.totalStock, d.shards) } },
];
const closed: SaleEvent = { type: 'SaleClosed', data: { saleId: 'sale-1', reason: 'ended', closedAt: NOW + 1 } };

const spec = () => DeciderSpec.for(saleDecider);
const schedule = (overrides: Partial<SaleDefinition> = {}) => spec().when({ type: 'ScheduleSale', definition: definition(overrides) }, NOW);
const rejectsSchedule = (overrides: Partial<SaleDefinition>): void => {
  schedule(overrides).thenThrows(InvalidCommand, { code: 'VALIDATION_FAILED' });
};
const acceptsSchedule = (overrides: Partial<SaleDefinition>): void => {
  schedule(overrides).then(scheduled(definition(overrides)));
};

describe('sale decider', () => {
  describe('ScheduleSale', () => {
    it('schedules a sale and spreads its stock over the shards', () => {
      schedule().then([
        { type: 'SaleScheduled', data: { ...definition(), scheduledAt: NOW } },
        { type: 'SaleStockAllocated', data: { saleId: 'sale-1', allocations: [4, 3, 3] } },
      ]);
    });

    it('keeps the waiting-room settings in the scheduled definition', () => {
      acceptsSchedule({ waitingRoom: { enabled: true, admitPerSecond: 500, tokenTtlMs: 30_000 } });
    });

    it.each<[string, SaleDefinition['waitingRoom']]>([
      ['no admissions', { enabled: true, admitPerSecond: 0, tokenTtlMs: 30_000 }],
      ['a fractional rate', { enabled: true, admitPerSecond: 2.5, tokenTtlMs: 30_000 }],
      ['a slot under a second', { enabled: true, admitPerSecond: 10, tokenTtlMs: 999 }],
      ['a slot over an hour', { enabled: true, admitPerSecond: 10, tokenTtlMs: 3_600_001 }],
    ])('rejects a waiting room with %s', (_what, waitingRoom) => {
      rejectsSchedule({ waitingRoom });
    });

    it.each([0, -1, 2.5, MAX_TOTAL_STOCK + 1, Number.NaN])('rejects a totalStock of %p', (totalStock) => {
      rejectsSchedule({ totalStock, shards: 1, perUserLimit: 1 });
    });

    it('accepts a totalStock at both ends of its range', () => {
      acceptsSchedule({ totalStock: 1, shards: 1, perUserLimit: 1 });
      acceptsSchedule({ totalStock: MAX_TOTAL_STOCK, shards: 4 });
    });

    it.each([0, -1, 1.5, MAX_SHARDS + 1])('rejects %p shards', (shards) => {
      rejectsSchedule({ totalStock: 10_000, shards });
    });

    it('accepts the largest number of shards', () => {
      acceptsSchedule({ totalStock: MAX_SHARDS, shards: MAX_SHARDS });
    });

    it('rejects more shards than units of stock, since a shard without stock is useless', () => {
      rejectsSchedule({ totalStock: 2, shards: 3, perUserLimit: 1 });
    });

    it('accepts exactly one unit per shard', () => {
      acceptsSchedule({ totalStock: 3, shards: 3, perUserLimit: 1 });
    });

    it.each([-1, 0.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2])('rejects a price of %p', (price) => {
      rejectsSchedule({ price });
    });

    it('accepts a free item (price 0)', () => {
      acceptsSchedule({ price: 0 });
    });

    it.each([0, -1, 1.5, 11])('rejects a perUserLimit of %p when totalStock is 10', (perUserLimit) => {
      rejectsSchedule({ totalStock: 10, perUserLimit });
    });

    it('accepts a perUserLimit equal to totalStock', () => {
      acceptsSchedule({ totalStock: 10, perUserLimit: 10 });
    });

    // The message is the sentence the 400 shows the sale's author: it names the field and the rule broken.
    it.each<[string, Partial<SaleDefinition>, string]>([
      ['totalStock', { totalStock: 0 }, `totalStock must be an integer in 1..${MAX_TOTAL_STOCK}`],
      ['shards', { shards: 0 }, `shards must be an integer in 1..${MAX_SHARDS}`],
      ['shards above stock', { totalStock: 2, shards: 3, perUserLimit: 1 }, 'shards must not exceed totalStock (a shard without stock is useless)'],
      ['price', { price: -1 }, 'price must be a non-negative integer (minor units)'],
      ['perUserLimit', { perUserLimit: 11 }, 'perUserLimit must be an integer in 1..totalStock'],
      ['endsAt', { startsAt: 5_000, endsAt: 5_000 }, 'endsAt must be after startsAt'],
      ['holdTtlMs', { holdTtlMs: 0 }, `holdTtlMs must be an integer ≥ ${MIN_HOLD_TTL_MS} in reserve mode`],
    ])('refuses a bad %s with a message naming it', (_field, overrides, message) => {
      schedule(overrides).thenThrows(InvalidCommand, { code: 'VALIDATION_FAILED', message });
    });

    it('rejects a sale that ends when it starts', () => {
      rejectsSchedule({ startsAt: 5_000, endsAt: 5_000 });
    });

    it('rejects a sale that ends before it starts', () => {
      rejectsSchedule({ startsAt: 5_000, endsAt: 4_999 });
    });

    it.each([0, MIN_HOLD_TTL_MS - 1, 1_500.5, -5_000])('rejects a holdTtlMs of %p in reserve mode', (holdTtlMs) => {
      rejectsSchedule({ inventoryMode: 'reserve', holdTtlMs });
    });

    it('accepts the shortest hold in reserve mode', () => {
      acceptsSchedule({ inventoryMode: 'reserve', holdTtlMs: MIN_HOLD_TTL_MS });
    });

    it.each(['on-order', 'on-payment'] as const)('ignores holdTtlMs in %s mode, which has no holds', (inventoryMode) => {
      acceptsSchedule({ inventoryMode, holdTtlMs: 0 });
    });

    it('rejects scheduling a sale that already exists', () => {
      spec()
        .given(scheduled())
        .when({ type: 'ScheduleSale', definition: definition({ totalStock: 20 }) }, NOW)
        .thenThrows(DomainError, { code: 'VALIDATION_FAILED', message: 'sale sale-1 already exists' });
    });

    it('rejects scheduling a sale again after it closed', () => {
      spec()
        .given([...scheduled(), closed])
        .when({ type: 'ScheduleSale', definition: definition() }, NOW)
        .thenThrows(DomainError, { code: 'VALIDATION_FAILED' });
    });
  });

  describe('CloseSale', () => {
    it('closes a scheduled sale with its reason and time', () => {
      spec()
        .given(scheduled())
        .when({ type: 'CloseSale', saleId: 'sale-1', reason: 'cancelled' }, 9_000)
        .then([{ type: 'SaleClosed', data: { saleId: 'sale-1', reason: 'cancelled', closedAt: 9_000 } }]);
    });

    it('decides nothing when the sale is already closed', () => {
      spec()
        .given([...scheduled(), closed])
        .when({ type: 'CloseSale', saleId: 'sale-1', reason: 'ended' })
        .thenNothing();
    });

    it('decides nothing for a sale that was never scheduled', () => {
      spec().when({ type: 'CloseSale', saleId: 'sale-1', reason: 'ended' }).thenNothing();
    });
  });

  describe('evolve', () => {
    it('folds a scheduled sale into its definition and allocations', () => {
      const state = fold(saleDecider.evolve, saleDecider.initialState(), scheduled());
      expect(state).toStrictEqual({ status: 'scheduled', definition: definition(), allocations: [4, 3, 3] });
    });

    it('marks a closed sale closed and keeps its allocations', () => {
      const state = fold(saleDecider.evolve, saleDecider.initialState(), [...scheduled(), closed]);
      expect(state).toMatchObject({ status: 'closed', allocations: [4, 3, 3] });
    });
  });
});

describe('allocateStock', () => {
  it('gives the remainder to the first shards', () => {
    expect(allocateStock(10, 4)).toStrictEqual([3, 3, 2, 2]);
    expect(allocateStock(7, 7)).toStrictEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(allocateStock(5, 1)).toStrictEqual([5]);
  });

  it('sums to totalStock and differs by at most one unit between shards', () => {
    const totalAndShards = fc
      .integer({ min: 1, max: MAX_TOTAL_STOCK })
      .chain((total) => fc.tuple(fc.constant(total), fc.integer({ min: 1, max: Math.min(MAX_SHARDS, total) })));
    fc.assert(
      fc.property(totalAndShards, ([total, shards]) => {
        const allocations = allocateStock(total, shards);
        expect(allocations).toHaveLength(shards);
        expect(allocations.reduce((sum, units) => sum + units, 0)).toBe(total);
        expect(Math.max(...allocations) - Math.min(...allocations)).toBeLessThanOrEqual(1);
        expect(Math.min(...allocations)).toBeGreaterThanOrEqual(1);
        expect([...allocations].sort((a, b) => b - a)).toStrictEqual(allocations);
      }),
    );
  });
});
