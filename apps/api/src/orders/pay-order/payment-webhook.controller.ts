import { Body, Controller, Headers, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { NotFound } from '@flash/domain';
import { Authenticated, CurrentPrincipal, isAdmin } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { APP_CONFIG, AppConfig } from '@flash/runtime';
import { RawJsonBody } from '../../http/json-body';
import { RequestId } from '../../http/request-id';
import { Inventories } from '@flash/command-side';
import { PayOrderHandler, signWebhook } from './pay-order.handler';

@Controller('payments')
export class PaymentWebhookController {
  constructor(private readonly payOrder: PayOrderHandler) {}

  @Post('webhook')
  @HttpCode(200)
  webhook(@Headers('x-signature') signature: string | undefined, @Body() raw: unknown, @RequestId() requestId: string) {
    return this.payOrder.handle(raw, signature, requestId);
  }
}

/**
 * DEMO=1 only: pays an order through the real webhook path with a body signed here, so the webhook secret never
 * leaves the server. One payment id per order: a retried click is the same payment, answered the same, paid once.
 */
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
