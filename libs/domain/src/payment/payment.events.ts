/**
 * Money the provider reports for an order, recorded once per `paymentId` before the order's shard decides what it
 * buys (OrderPaid, or PaymentRefundRequested). `saleId` and `shard` name where that decision is taken.
 */
export type PaymentReceived = {
  type: 'PaymentReceived';
  data: { paymentId: string; saleId: string; shard: number; orderId: string; amount: number; receivedAt: number };
};

export type PaymentEvent = PaymentReceived;
