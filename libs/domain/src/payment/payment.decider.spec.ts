import { DeciderSpec } from '../../test/decider-spec';
import { PaymentIdReused } from '../errors';
import { paymentDecider, ReceivePayment } from './payment.decider';
import { PaymentEvent } from './payment.events';

const receive = (orderId: string, amount = 1999, status: ReceivePayment['status'] = 'succeeded'): ReceivePayment => ({
  type: 'ReceivePayment',
  paymentId: 'pay-1',
  saleId: 'sale-1',
  shard: 3,
  orderId,
  amount,
  status,
});
const received = (orderId: string, receivedAt: number, amount = 1999): PaymentEvent => ({
  type: 'PaymentReceived',
  data: { paymentId: 'pay-1', saleId: 'sale-1', shard: 3, orderId, amount, receivedAt },
});

const spec = () => DeciderSpec.for(paymentDecider);

describe('payment decider', () => {
  it('records a payment the first time it is received, for its order', () => {
    spec().when(receive('order-b'), 100).then([received('order-b', 100)]);
  });

  it('decides nothing when the same payment arrives again for the same order (a redelivered webhook)', () => {
    spec().given([received('order-b', 100)]).when(receive('order-b'), 200).thenNothing();
    // Whatever amount it now claims: the shard decides once per paymentId what the money bought.
    spec().given([received('order-b', 100)]).when(receive('order-b', 1), 200).thenNothing();
  });

  it('refuses the same payment for another order, succeeded or failed', () => {
    spec()
      .given([received('order-b', 100)])
      .when(receive('order-c'), 200)
      .thenThrows(PaymentIdReused, { code: 'PAYMENT_ID_REUSED', details: { paymentId: 'pay-1' } });
    spec().given([received('order-b', 100)]).when(receive('order-c', 1999, 'failed'), 200).thenThrows(PaymentIdReused);
  });

  it('records nothing for a failed payment: it moved no money, and binds the paymentId to no order', () => {
    spec().when(receive('order-b', 1999, 'failed'), 100).thenNothing();
    spec().given([received('order-b', 100)]).when(receive('order-b', 1999, 'failed'), 200).thenNothing();
  });

  it('keeps the first order even if a later event names another', () => {
    spec()
      .given([received('order-b', 100), received('order-c', 150)])
      .when(receive('order-c'), 200)
      .thenThrows(PaymentIdReused);
  });
});
