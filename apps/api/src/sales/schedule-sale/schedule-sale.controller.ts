import { randomUUID } from 'node:crypto';
import { Controller, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiTags } from '@nestjs/swagger';
import { CommandBus } from '@nestjs/cqrs';
import { InventoryMode, SaleDefinition } from '@flash/domain';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { JsonBody } from '../../http/json-body';
import { RequestId } from '../../http/request-id';
import { GetSaleService } from '../get-sale/get-sale.service';
import { AdminSaleSchema } from '../sale-views.schema';
import { ScheduleSaleCommand } from './schedule-sale.command';
import { ScheduleSaleRequest } from './schedule-sale.dto';

/** Default hold in reserve mode when the admin gives none: ten minutes to pay. */
export const DEFAULT_HOLD_TTL_MS = 600_000;

export const toDefinition = (saleId: string, body: ScheduleSaleRequest): SaleDefinition => {
  const mode: InventoryMode = body.inventoryMode;
  return {
    saleId,
    sku: body.sku,
    name: body.name,
    price: body.price,
    totalStock: body.totalStock,
    shards: body.shards,
    startsAt: Date.parse(body.startsAt),
    endsAt: Date.parse(body.endsAt),
    perUserLimit: body.perUserLimit,
    inventoryMode: mode,
    holdTtlMs: body.holdTtlMs ?? DEFAULT_HOLD_TTL_MS,
    challenge: body.challenge ?? 'none',
    ...(body.waitingRoom
      ? { waitingRoom: { enabled: body.waitingRoom.enabled, admitPerSecond: body.waitingRoom.admitPerSecond, tokenTtlMs: body.waitingRoom.tokenTtlMs } }
      : {}),
  };
};

@ApiTags('admin')
@Controller('admin/sales')
@Authenticated('admin')
export class ScheduleSaleController {
  constructor(
    private readonly commands: CommandBus,
    private readonly sales: GetSaleService,
  ) {}

  @Post()
  @ApiCreatedResponse({ type: AdminSaleSchema })
  async schedule(@CurrentPrincipal() admin: Principal, @JsonBody(ScheduleSaleRequest) body: ScheduleSaleRequest, @RequestId() requestId: string) {
    const definition = await this.commands.execute(new ScheduleSaleCommand(toDefinition(randomUUID(), body), admin.userId, requestId));
    return this.sales.adminView(definition.saleId);
  }
}
