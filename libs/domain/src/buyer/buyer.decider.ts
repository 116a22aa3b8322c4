import { Decider } from '../decider';
import { IdempotencyKeyReused, InvalidCommand, LimitExceeded } from '../errors';
import { BuyerEvent, QuotaReleaseReason } from './buyer.events';

/** Claims a share of the buyer's per-sale limit under the client's Idempotency-Key. */
export type ClaimQuota = {
  type: 'ClaimQuota';
  saleId: string;
  userId: string;
  reservationId: string;
  idempotencyKey: string;
  quantity: number;
  perUserLimit: number;
};
export type ReleaseQuota = { type: 'ReleaseQuota'; reservationId: string; reason: QuotaReleaseReason };
export type BuyerCommand = ClaimQuota | ReleaseQuota;

export interface QuotaClaim {
  readonly reservationId: string;
  readonly idempotencyKey: string;
  readonly quantity: number;
  readonly claimedAt: number;
  readonly released?: QuotaReleaseReason;
}

export interface BuyerState {
  readonly saleId: string;
  readonly userId: string;
  /** Units claimed and not released: active holds plus paid orders. */
  readonly claimedQuantity: number;
  readonly claimsByKey: ReadonlyMap<string, QuotaClaim>;
  readonly keyByReservation: ReadonlyMap<string, string>;
}

export const initialBuyerState = (saleId = '', userId = ''): BuyerState => ({
  saleId,
  userId,
  claimedQuantity: 0,
  claimsByKey: new Map(),
  keyByReservation: new Map(),
});

export const claimForKey = (state: BuyerState, idempotencyKey: string): QuotaClaim | undefined => state.claimsByKey.get(idempotencyKey);

export const claimForReservation = (state: BuyerState, reservationId: string): QuotaClaim | undefined => {
  const key = state.keyByReservation.get(reservationId);
  return key === undefined ? undefined : state.claimsByKey.get(key);
};

export const buyerDecider: Decider<BuyerCommand, BuyerEvent, BuyerState> = {
  initialState: () => initialBuyerState(),

  decide(command, state, now) {
    switch (command.type) {
      case 'ClaimQuota': {
        if (!Number.isInteger(command.quantity) || command.quantity < 1) throw new InvalidCommand('quantity must be a positive integer');
        const known = state.claimsByKey.get(command.idempotencyKey);
        if (known) {
          // The fingerprint of a key is (sale, quantity); the sale is fixed by the stream.
          if (known.quantity !== command.quantity) throw new IdempotencyKeyReused(command.idempotencyKey);
          return [];
        }
        if (state.claimedQuantity + command.quantity > command.perUserLimit) {
          throw new LimitExceeded(command.saleId, command.perUserLimit);
        }
        const { saleId, userId, reservationId, idempotencyKey, quantity } = command;
        return [{ type: 'QuotaClaimed', data: { saleId, userId, reservationId, idempotencyKey, quantity, claimedAt: now } }];
      }
      case 'ReleaseQuota': {
        const claim = claimForReservation(state, command.reservationId);
        if (!claim || claim.released) return [];
        return [
          {
            type: 'QuotaReleased',
            data: {
              saleId: state.saleId,
              userId: state.userId,
              reservationId: claim.reservationId,
              quantity: claim.quantity,
              reason: command.reason,
              releasedAt: now,
            },
          },
        ];
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'QuotaClaimed': {
        const { saleId, userId, reservationId, idempotencyKey, quantity, claimedAt } = event.data;
        const claimsByKey = new Map(state.claimsByKey).set(idempotencyKey, { reservationId, idempotencyKey, quantity, claimedAt });
        const keyByReservation = new Map(state.keyByReservation).set(reservationId, idempotencyKey);
        return { saleId, userId, claimedQuantity: state.claimedQuantity + quantity, claimsByKey, keyByReservation };
      }
      case 'QuotaReleased': {
        const claim = claimForReservation(state, event.data.reservationId);
        if (!claim || claim.released) return state;
        const claimsByKey = new Map(state.claimsByKey).set(claim.idempotencyKey, { ...claim, released: event.data.reason });
        return { ...state, claimedQuantity: state.claimedQuantity - claim.quantity, claimsByKey };
      }
    }
  },
};
