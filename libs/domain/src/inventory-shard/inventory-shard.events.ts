export type RefundReason = 'order_expired' | 'order_cancelled' | 'sold_out' | 'already_paid' | 'amount_mismatch';
export type ReleaseReason = 'expired' | 'cancelled';

type ShardEventData = { saleId: string; shard: number; orderId: string };

export type StockReserved = { type: 'StockReserved'; data: ShardEventData & { userId: string; quantity: number; reservedAt: number } };
export type OrderPlaced = {
  type: 'OrderPlaced';
  data: ShardEventData & {
    userId: string;
    quantity: number;
    /** price × quantity in minor units, fixed at order time. */
    amount: number;
    status: 'reserved' | 'placed';
    /** Whether StockReserved was taken for this order (false in on-payment mode until it is paid). */
    stockTaken: boolean;
    placedAt: number;
    expiresAt?: number;
  };
};
export type OrderPaid = { type: 'OrderPaid'; data: ShardEventData & { paymentId: string; amount: number; paidAt: number } };
/** `userId` rides along so the quota saga can release the buyer's claim from this event alone. */
export type ReservationExpired = { type: 'ReservationExpired'; data: ShardEventData & { userId: string; expiredAt: number } };
export type OrderCancelled = { type: 'OrderCancelled'; data: ShardEventData & { userId: string; cancelledAt: number } };
export type StockReleased = { type: 'StockReleased'; data: ShardEventData & { quantity: number; reason: ReleaseReason } };
export type PaymentRefundRequested = {
  type: 'PaymentRefundRequested';
  data: ShardEventData & { userId: string; paymentId: string; amount: number; reason: RefundReason; requestedAt: number };
};

export type ShardEvent = StockReserved | OrderPlaced | OrderPaid | ReservationExpired | OrderCancelled | StockReleased | PaymentRefundRequested;
