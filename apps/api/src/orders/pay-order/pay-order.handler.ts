import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { NotFound, OrderNotPayable, OrderStatus, PaymentEvent, paymentDecider, PaymentState, paymentStream, ReceivePayment, RetryLater } from '@flash/domain';
import { EventStore } from '@flash/event-store';
import { Clock, CLOCK, decideAndAppend, Inventories, LocatedOrder } from '@flash/command-side';
import { APP_CONFIG, AppConfig, EVENT_STORE } from '@flash/runtime';
import { ApiError } from '../../http/error-catalogue';
import { parseBody, RawJsonBody } from '../../http/json-body';
import { PaymentWebhookRequest } from './payment-webhook.dto';

export const signWebhook = (secret: string, rawBody: string | Buffer): string => createHmac('sha256', secret).update(rawBody).digest('hex');

/**
 * The payment provider's webhook. The signature is checked over the exact bytes received before anything is
 * parsed. A paymentId is first recorded on its own stream (PaymentReceived, appended with NO_STREAM), which binds it
 * to one order in the whole store: the same payment for another order is refused there and changes nothing. What the
 * money buys is then decided on the order's shard stream, the same stream its expiry is decided on, so a payment
 * racing the expiry sweep either wins (OrderPaid) or loses (PaymentRefundRequested, answered 409) — never both,
 * never silently. A redelivered webhook (same paymentId, same order) finds both decisions made and gets the same answer.
 */
@Injectable()
export class PayOrderHandler {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly inventory: Inventories,
  ) {}

  verifySignature(raw: unknown, signature: string | undefined): void {
    const bytes = raw instanceof RawJsonBody ? raw.bytes : undefined;
    if (bytes === undefined || signature === undefined || !/^[0-9a-f]{64}$/i.test(signature)) {
      throw new ApiError('UNAUTHENTICATED', 'missing or malformed X-Signature');
    }
    const expected = Buffer.from(signWebhook(this.config.paymentWebhookSecret, bytes), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) throw new ApiError('UNAUTHENTICATED', 'bad webhook signature');
  }

  /** `requestId`: the webhook's request (X-Request-Id), the correlationId of the events the payment appends. */
  async handle(raw: unknown, signature: string | undefined, requestId: string): Promise<{ orderId: string; status: OrderStatus }> {
    this.verifySignature(raw, signature);
    const payment = parseBody(PaymentWebhookRequest, raw);
    const found = await this.inventory.findOrder(payment.orderId);
    if (!found) throw new NotFound('order', payment.orderId);
    const { order } = found;
    const received: ReceivePayment = {
      type: 'ReceivePayment',
      paymentId: payment.paymentId,
      saleId: found.saleId,
      shard: found.shard,
      orderId: order.orderId,
      amount: payment.amount,
      status: payment.status,
    };
    await this.receive(received, requestId);
    // A failed payment changes nothing (the hold stays until it is paid or expires); its paymentId was checked above.
    if (payment.status === 'failed') return { orderId: order.orderId, status: order.status };
    return this.pay(found, received, requestId);
  }

  /** Read the payment's stream, decide, append with its expected revision (NO_STREAM the first time). */
  private async receive(command: ReceivePayment, requestId: string): Promise<void> {
    const now = this.clock.now();
    await decideAndAppend<PaymentState, PaymentEvent>(this.store, {
      streamId: paymentStream(command.paymentId),
      evolve: paymentDecider.evolve,
      initial: paymentDecider.initialState(),
      decide: (state) => paymentDecider.decide(command, state, now),
      // Correlated with the webhook's request (X-Request-Id); the order is in the event's data.
      metadata: { correlationId: requestId, causationId: `payment:${command.paymentId}`, decidedAt: now },
      // Another delivery got there first: decide again on what it recorded (a payment stream holds one event).
      maxAttempts: 2,
      exhausted: () => new RetryLater('OVERLOADED', `payment ${command.paymentId} is being delivered concurrently; retry`, 1000),
    });
  }

  private async pay({ writer, order }: LocatedOrder, payment: ReceivePayment, requestId: string): Promise<{ orderId: string; status: OrderStatus }> {
    const outcome = await writer.submit(
      { type: 'PayOrder', orderId: payment.orderId, paymentId: payment.paymentId, amount: payment.amount },
      { correlationId: requestId, causationId: `payment:${payment.paymentId}`, userId: order.userId },
    );
    const after = outcome.order ?? order;
    const decided = writer.state.payments.get(payment.paymentId);
    if (decided === 'paid') return { orderId: after.orderId, status: after.status };
    throw new OrderNotPayable(after.orderId, after.status, decided === undefined ? undefined : { paymentId: payment.paymentId, reason: decided });
  }
}
