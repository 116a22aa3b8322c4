import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { NotFound } from '@flash/domain';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { Inventories } from '@flash/command-side';
import { RequestId } from '../../http/request-id';
import { orderView } from '../get-order/get-order.controller';
import { Refuses } from '../../http/refusals';
import { OrderSchema } from '../order-view.schema';

/** The owner gives a hold back: OrderCancelled + StockReleased on the shard; the quota saga frees their limit. */
@ApiTags('buyer')
@Controller('orders')
export class CancelOrderController {
  constructor(private readonly inventory: Inventories) {}

  @Post(':id/cancel')
  @HttpCode(200)
  @Authenticated()
  @ApiOkResponse({ type: OrderSchema, description: 'the order, cancelled; its stock goes back to the sale' })
  @Refuses('NOT_FOUND', 'ORDER_NOT_CANCELLABLE')
  async cancel(@Param('id') orderId: string, @CurrentPrincipal() principal: Principal, @RequestId() requestId: string) {
    const found = await this.inventory.findOrder(orderId);
    if (found?.order.userId !== principal.userId) throw new NotFound('order', orderId);
    const outcome = await found.writer.submit({ type: 'CancelOrder', orderId }, { correlationId: requestId, causationId: `cancel:${orderId}`, userId: principal.userId });
    return orderView(found.saleId, found.shard, outcome.order ?? found.order);
  }
}
