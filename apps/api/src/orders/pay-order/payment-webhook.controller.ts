import { Body, Controller, Headers, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBody, ApiExcludeController, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { NotFound } from '@flash/domain';
import { Authenticated, CurrentPrincipal, isAdmin } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { APP_CONFIG, AppConfig } from '@flash/runtime';
import { RawJsonBody } from '../../http/json-body';
import { RequestId } from '../../http/request-id';
import { Inventories } from '@flash/command-side';
import { Refuses } from '../../http/refusals';
import { PaymentAnswerSchema } from '../order-view.schema';
import { PayOrderHandler, signWebhook } from './pay-order.handler';
import { PaymentWebhookRequest } from './payment-webhook.dto';

@ApiTags('payments')
@Controller('payments')
export class PaymentWebhookController {
  constructor(private readonly payOrder: PayOrderHandler) {}

  @Post('webhook')
  @HttpCode(200)
  @ApiHeader({ name: 'X-Signature', required: true, description: 'hex HMAC-SHA256(PAYMENT_WEBHOOK_SECRET, raw body)' })
  @ApiBody({ type: PaymentWebhookRequest })
  @ApiOkResponse({ type: PaymentAnswerSchema, description: 'the same paymentId again: the same answer, no second effect' })
  // The handler verifies the signature over the raw bytes, then parses: the same refusals as @JsonBody, and its own.
  @Refuses('UNAUTHENTICATED', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'NOT_FOUND', 'ORDER_NOT_PAYABLE', 'PAYMENT_ID_REUSED', 'OVERLOADED')
  webhook(@Headers('x-signature') signature: string | undefined, @Body() raw: unknown, @RequestId() requestId: string) {
    return this.payOrder.handle(raw, signature, requestId);
  }
}

/**
 * DEMO=1 only: pays an order through the real webhook path with a body signed here, so the webhook secret never
 * leaves the server. One payment id per order: a retried click is the same payment, answered the same, paid once.
 */
@ApiExcludeController()
@Controller('demo/payments')
export class DemoPaymentsController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly payOrder: PayOrderHandler,
    private readonly inventory: Inventories,
  ) {}

  @Post(':orderId')
  @HttpCode(200)
  @Authenticated()
  async pay(@Param('orderId') orderId: string, @CurrentPrincipal() principal: Principal, @RequestId() requestId: string) {
    const order = (await this.inventory.findOrder(orderId))?.order;
    if (!order || (order.userId !== principal.userId && !isAdmin(principal))) throw new NotFound('order', orderId);
    const body = JSON.stringify({ paymentId: `demo-${order.orderId}`, orderId, amount: order.amount, status: 'succeeded' });
    return this.payOrder.handle(new RawJsonBody(body), signWebhook(this.config.paymentWebhookSecret, body), requestId);
  }
}
