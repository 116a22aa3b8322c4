export type QuotaReleaseReason = 'sold_out' | 'expired' | 'cancelled' | 'refunded' | 'compensated';

export type QuotaClaimed = {
  type: 'QuotaClaimed';
  data: { saleId: string; userId: string; reservationId: string; idempotencyKey: string; quantity: number; claimedAt: number };
};
export type QuotaReleased = {
  type: 'QuotaReleased';
  data: { saleId: string; userId: string; reservationId: string; quantity: number; reason: QuotaReleaseReason; releasedAt: number };
};

export type BuyerEvent = QuotaClaimed | QuotaReleased;
