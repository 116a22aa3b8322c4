import { Decider } from '../decider';
import { PaymentIdReused } from '../errors';
import { PaymentEvent } from './payment.events';

/** Records a payment for the order it was made for: a `paymentId` pays at most one order in the whole store. */
export type ReceivePayment = {
  type: 'ReceivePayment';
  paymentId: string;
  saleId: string;
  shard: number;
  orderId: string;
  amount: number;
  /** As the provider reports it: a failed payment moved no money. */
  status: 'succeeded' | 'failed';
};
export type PaymentCommand = ReceivePayment;

export interface PaymentState {
  /** The order the payment was first received for; undefined while the payment stream is empty. */
  readonly orderId: string | undefined;
}

export const initialPaymentState = (): PaymentState => ({ orderId: undefined });

/**
 * One stream per paymentId, claimed with NO_STREAM: whoever appends first binds the payment to its order, across
 * processes and restarts. The same payment for the same order again decides nothing (a redelivered webhook); the
 * same payment for another order is refused and changes nothing, failed or not. A failed payment records nothing.
 */
export const paymentDecider: Decider<PaymentCommand, PaymentEvent, PaymentState> = {
  initialState: initialPaymentState,

  decide(command, state, now) {
    if (state.orderId !== undefined && state.orderId !== command.orderId) throw new PaymentIdReused(command.paymentId);
    if (state.orderId !== undefined || command.status === 'failed') return [];
    const { paymentId, saleId, shard, orderId, amount } = command;
    return [{ type: 'PaymentReceived', data: { paymentId, saleId, shard, orderId, amount, receivedAt: now } }];
  },

  evolve(state, event) {
    // The first order a payment was received for is the one it belongs to; nothing after it can rebind it.
    return state.orderId === undefined ? { orderId: event.data.orderId } : state;
  },
};
