import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { NotFound } from '@flash/domain';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { InventoryService } from '../../inventory/inventory.service';
import { SaleCatalog } from '../../sales/sale-catalog';
import { orderView } from '../get-order/get-order.controller';

/** The owner gives a hold back: OrderCancelled + StockReleased on the shard; the quota saga frees their limit. */
@Controller('orders')
export class CancelOrderController {
  constructor(
    private readonly catalog: SaleCatalog,
    private readonly inventory: InventoryService,
  ) {}

  @Post(':id/cancel')
  @HttpCode(200)
  @Authenticated()
  async cancel(@Param('id') orderId: string, @CurrentPrincipal() principal: Principal) {
    const location = this.catalog.locateOrder(orderId);
    const writer = location && (await this.inventory.forSale(location.saleId)).writer(location.shard);
    const order = writer?.state.orders.get(orderId);
    if (!location || !writer || order?.userId !== principal.userId) throw new NotFound('order', orderId);
    const outcome = await writer.submit({ type: 'CancelOrder', orderId }, { causationId: `cancel:${orderId}`, userId: principal.userId });
    return orderView(location.saleId, location.shard, outcome.order ?? order);
  }
}
