import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { NotFound, OrderNotPayable, OrderStatus } from '@flash/domain';
import { APP_CONFIG, AppConfig } from '../config';
import { ApiError } from '../http/error-catalogue';
import { parseBody, RawJsonBody } from '../http/json-body';
import { InventoryService } from '../inventory/inventory.service';
import { PaymentWebhookRequest } from './payment-webhook.dto';

export const signWebhook = (secret: string, rawBody: string | Buffer): string => createHmac('sha256', secret).update(rawBody).digest('hex');

/**
 * The payment provider's webhook. The signature is checked over the exact bytes received before anything is
 * parsed. A payment is decided on the order's shard stream, the same stream its expiry is decided on, so a payment
 * racing the expiry sweep either wins (OrderPaid) or loses (PaymentRefundRequested, answered 409) — never both,
 * never silently. Idempotent by paymentId: the shard remembers every payment it decided.
 */
@Injectable()
export class PaymentsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly inventory: InventoryService,
  ) {}

  verifySignature(raw: unknown, signature: string | undefined): void {
    const bytes = raw instanceof RawJsonBody ? raw.bytes : undefined;
    if (bytes === undefined || signature === undefined || !/^[0-9a-f]{64}$/i.test(signature)) {
      throw new ApiError('UNAUTHENTICATED', 'missing or malformed X-Signature');
    }
    const expected = Buffer.from(signWebhook(this.config.paymentWebhookSecret, bytes), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) throw new ApiError('UNAUTHENTICATED', 'bad webhook signature');
  }

  async handle(raw: unknown, signature: string | undefined): Promise<{ orderId: string; status: OrderStatus }> {
    this.verifySignature(raw, signature);
    const payment = parseBody(PaymentWebhookRequest, raw);
    const found = await this.inventory.findOrder(payment.orderId);
    if (!found) throw new NotFound('order', payment.orderId);
    const { writer, order } = found;
    // A failed payment changes nothing: the hold stays until it is paid or expires.
    if (payment.status === 'failed') return { orderId: order.orderId, status: order.status };

    const outcome = await writer.submit(
      { type: 'PayOrder', orderId: payment.orderId, paymentId: payment.paymentId, amount: payment.amount },
      { causationId: `payment:${payment.paymentId}`, userId: order.userId },
    );
    const after = outcome.order ?? order;
    if (writer.state.payments.get(payment.paymentId) === 'paid') return { orderId: after.orderId, status: after.status };
    throw new OrderNotPayable(after.orderId, after.status);
  }
}
