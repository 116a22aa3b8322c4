import { DeciderSpec } from '../../test/decider-spec';
import { fold } from '../decider';
import { IdempotencyKeyReused, InvalidCommand, LimitExceeded } from '../errors';
import { buyerDecider, claimForKey, claimForReservation, ClaimQuota } from './buyer.decider';
import { BuyerEvent, QuotaReleaseReason } from './buyer.events';

const SALE = 'sale-1';
const USER = 'alice';
const LIMIT = 2;

const claim = (idempotencyKey: string, quantity = 1, perUserLimit = LIMIT): ClaimQuota => ({
  type: 'ClaimQuota',
  saleId: SALE,
  userId: USER,
  reservationId: `res-${idempotencyKey}`,
  idempotencyKey,
  quantity,
  perUserLimit,
});
const claimed = (idempotencyKey: string, quantity = 1, claimedAt = 100): BuyerEvent => ({
  type: 'QuotaClaimed',
  data: { saleId: SALE, userId: USER, reservationId: `res-${idempotencyKey}`, idempotencyKey, quantity, claimedAt },
});
const released = (idempotencyKey: string, quantity = 1, reason: QuotaReleaseReason = 'expired', releasedAt = 200): BuyerEvent => ({
  type: 'QuotaReleased',
  data: { saleId: SALE, userId: USER, reservationId: `res-${idempotencyKey}`, quantity, reason, releasedAt },
});

const spec = () => DeciderSpec.for(buyerDecider);

describe('buyer decider', () => {
  describe('ClaimQuota', () => {
    it('claims quota for a first purchase under its Idempotency-Key', () => {
      spec().when(claim('k1', 2), 100).then([claimed('k1', 2, 100)]);
    });

    it('claims the last unit of the per-user limit', () => {
      spec().given([claimed('k1', 1)]).when(claim('k2', 1), 150).then([claimed('k2', 1, 150)]);
    });

    it('rejects a claim that would take the buyer over the per-user limit', () => {
      spec()
        .given([claimed('k1', 2)])
        .when(claim('k2', 1))
        .thenThrows(LimitExceeded, { code: 'LIMIT_EXCEEDED', details: { saleId: SALE, perUserLimit: LIMIT } });
    });

    it('rejects a single claim larger than the per-user limit', () => {
      spec().when(claim('k1', LIMIT + 1)).thenThrows(LimitExceeded);
    });

    it.each([0, -1, 1.5, Number.NaN])('rejects a quantity of %p', (quantity) => {
      spec().when(claim('k1', quantity)).thenThrows(InvalidCommand, { code: 'VALIDATION_FAILED' });
    });

    it('decides nothing for a retry with the same key and quantity, even at the limit', () => {
      spec().given([claimed('k1', 2)]).when(claim('k1', 2)).thenNothing();
    });

    it('decides nothing for a retry of a claim that was released since', () => {
      spec()
        .given([claimed('k1', 1), released('k1', 1, 'sold_out')])
        .when(claim('k1', 1))
        .thenNothing();
    });

    it('rejects a key reused for a different quantity', () => {
      spec()
        .given([claimed('k1', 1)])
        .when(claim('k1', 2))
        .thenThrows(IdempotencyKeyReused, { code: 'IDEMPOTENCY_KEY_REUSED' });
    });

    it('gives released quota back to the buyer', () => {
      spec()
        .given([claimed('k1', 2), released('k1', 2)])
        .when(claim('k2', 2), 300)
        .then([claimed('k2', 2, 300)]);
    });
  });

  describe('ReleaseQuota', () => {
    it('releases the quantity of the claim with the given reason', () => {
      spec()
        .given([claimed('k1', 2)])
        .when({ type: 'ReleaseQuota', reservationId: 'res-k1', reason: 'cancelled' }, 400)
        .then([released('k1', 2, 'cancelled', 400)]);
    });

    it('decides nothing when the claim is already released', () => {
      spec()
        .given([claimed('k1', 1), released('k1', 1, 'expired')])
        .when({ type: 'ReleaseQuota', reservationId: 'res-k1', reason: 'cancelled' })
        .thenNothing();
    });

    it('decides nothing for a reservation the buyer never claimed', () => {
      spec()
        .given([claimed('k1', 1)])
        .when({ type: 'ReleaseQuota', reservationId: 'res-unknown', reason: 'compensated' })
        .thenNothing();
    });
  });

  describe('evolve', () => {
    it('counts claimed units minus released ones, once per reservation', () => {
      const state = fold(buyerDecider.evolve, buyerDecider.initialState(), [
        claimed('k1', 1),
        claimed('k2', 1),
        released('k1', 1),
        released('k1', 1),
      ]);
      expect(state.claimedQuantity).toBe(1);
      expect(claimForKey(state, 'k1')).toMatchObject({ reservationId: 'res-k1', released: 'expired' });
      expect(claimForReservation(state, 'res-k2')).toMatchObject({ idempotencyKey: 'k2', quantity: 1 });
      expect(claimForReservation(state, 'res-k2')?.released).toBeUndefined();
    });
  });
});
