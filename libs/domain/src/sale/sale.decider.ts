import { Decider } from '../decider';
import { DomainError, InvalidCommand } from '../errors';
import { SaleDefinition, SaleEvent } from './sale.events';

export const MAX_TOTAL_STOCK = 1_000_000_000;
export const MAX_SHARDS = 256;
export const MIN_HOLD_TTL_MS = 1000;
/** A waiting room admits 1..MAX_ADMIT_PER_SECOND buyers a second; an admitted slot lasts MIN..MAX_ADMITTED_TTL_MS. */
export const MAX_ADMIT_PER_SECOND = 1_000_000;
export const MIN_ADMITTED_TTL_MS = 1000;
export const MAX_ADMITTED_TTL_MS = 3_600_000;

export type ScheduleSale = { type: 'ScheduleSale'; definition: SaleDefinition };
export type CloseSale = { type: 'CloseSale'; saleId: string; reason: 'ended' | 'cancelled' };
export type SaleCommand = ScheduleSale | CloseSale;

export type SaleState =
  | { status: 'none' }
  | { status: 'scheduled' | 'closed'; definition: SaleDefinition; allocations: readonly number[] };

/** Spread `total` over `shards` as evenly as possible; the first `total % shards` shards get one more. */
export const allocateStock = (total: number, shards: number): number[] => {
  const base = Math.floor(total / shards);
  const extra = total % shards;
  return Array.from({ length: shards }, (_, shard) => base + (shard < extra ? 1 : 0));
};

const isWholeIn = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max;

const validate = (d: SaleDefinition): void => {
  if (!isWholeIn(d.totalStock, 1, MAX_TOTAL_STOCK)) throw new InvalidCommand(`totalStock must be an integer in 1..${MAX_TOTAL_STOCK}`);
  if (!isWholeIn(d.shards, 1, MAX_SHARDS)) throw new InvalidCommand(`shards must be an integer in 1..${MAX_SHARDS}`);
  if (d.shards > d.totalStock) throw new InvalidCommand('shards must not exceed totalStock (a shard without stock is useless)');
  if (!isWholeIn(d.price, 0, Number.MAX_SAFE_INTEGER)) throw new InvalidCommand('price must be a non-negative integer (minor units)');
  if (!isWholeIn(d.perUserLimit, 1, d.totalStock)) throw new InvalidCommand('perUserLimit must be an integer in 1..totalStock');
  if (!(d.endsAt > d.startsAt)) throw new InvalidCommand('endsAt must be after startsAt');
  if (d.inventoryMode === 'reserve' && !isWholeIn(d.holdTtlMs, MIN_HOLD_TTL_MS, Number.MAX_SAFE_INTEGER)) {
    throw new InvalidCommand(`holdTtlMs must be an integer ≥ ${MIN_HOLD_TTL_MS} in reserve mode`);
  }
  const room = d.waitingRoom;
  if (room !== undefined) {
    if (typeof room.enabled !== 'boolean') throw new InvalidCommand('waitingRoom.enabled must be true or false');
    if (!isWholeIn(room.admitPerSecond, 1, MAX_ADMIT_PER_SECOND)) throw new InvalidCommand(`waitingRoom.admitPerSecond must be an integer in 1..${MAX_ADMIT_PER_SECOND}`);
    if (!isWholeIn(room.tokenTtlMs, MIN_ADMITTED_TTL_MS, MAX_ADMITTED_TTL_MS)) {
      throw new InvalidCommand(`waitingRoom.tokenTtlMs must be an integer in ${MIN_ADMITTED_TTL_MS}..${MAX_ADMITTED_TTL_MS}`);
    }
  }
};

export const saleDecider: Decider<SaleCommand, SaleEvent, SaleState> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state, now) {
    switch (command.type) {
      case 'ScheduleSale': {
        if (state.status !== 'none') throw new DomainError('VALIDATION_FAILED', `sale ${command.definition.saleId} already exists`);
        validate(command.definition);
        const { saleId, totalStock, shards } = command.definition;
        return [
          { type: 'SaleScheduled', data: { ...command.definition, scheduledAt: now } },
          { type: 'SaleStockAllocated', data: { saleId, allocations: allocateStock(totalStock, shards) } },
        ];
      }
      case 'CloseSale':
        if (state.status !== 'scheduled') return [];
        return [{ type: 'SaleClosed', data: { saleId: command.saleId, reason: command.reason, closedAt: now } }];
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'SaleScheduled': {
        const { scheduledAt: _scheduledAt, ...definition } = event.data;
        return { status: 'scheduled', definition, allocations: [] };
      }
      case 'SaleStockAllocated':
        return state.status === 'none' ? state : { ...state, allocations: event.data.allocations };
      case 'SaleClosed':
        return state.status === 'none' ? state : { ...state, status: 'closed' };
    }
  },
};
