import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { NotFound, Order } from '@flash/domain';
import { Authenticated, CurrentPrincipal, isAdmin } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { Inventories } from '@flash/command-side';
import { Refuses } from '../../http/refusals';
import { OrderSchema } from '../order-view.schema';

export const orderView = (saleId: string, shard: number, o: Order) => ({
  orderId: o.orderId,
  saleId,
  userId: o.userId,
  quantity: o.quantity,
  status: o.status,
  shard,
  amount: o.amount,
  ...(o.expiresAt === undefined ? {} : { expiresAt: new Date(o.expiresAt).toISOString() }),
  ...(o.paidAt === undefined ? {} : { paidAt: new Date(o.paidAt).toISOString() }),
  ...(o.endedAt === undefined ? {} : { endedAt: new Date(o.endedAt).toISOString() }),
});

/** Reads its own writes: the order locator and the shard state are updated before the 201 is sent. */
@ApiTags('buyer')
@Controller('orders')
export class GetOrderController {
  constructor(private readonly inventory: Inventories) {}

  @Get(':id')
  @Authenticated()
  @ApiOkResponse({ type: OrderSchema, description: "the owner's or, for an admin, anyone's; anyone else gets 404" })
  @Refuses('NOT_FOUND')
  async get(@Param('id') orderId: string, @CurrentPrincipal() principal: Principal) {
    const found = await this.inventory.findOrder(orderId);
    // Someone else's order is indistinguishable from a missing one.
    if (!found || (found.order.userId !== principal.userId && !isAdmin(principal))) throw new NotFound('order', orderId);
    return orderView(found.saleId, found.shard, found.order);
  }
}
