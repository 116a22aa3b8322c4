import { Controller, Get, Param } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiProperty, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { PurchaseRoute } from '../../admission/purchase-route.decorator';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { Refuses } from '../../http/refusals';
import { PurchaseAccessSchema } from '../issue-purchase-token/purchase-token.controller';
import { QueuePosition, WaitingRoom } from './waiting-room';

export class QueuePositionSchema {
  @ApiProperty({ description: 'the live place in line, 1 = next' }) position!: number;
  @ApiProperty({ description: 'the wait at the current admission rate' }) estimatedWaitMs!: number;
}

export class AdmittedAccessSchema extends PurchaseAccessSchema {
  @ApiProperty({ format: 'date-time', description: 'when the line let this buyer through (server time)' }) admittedAt!: string;
}

/** GET /sales/:id/queue/:ticket: the owner's place in the waiting room's line, or their purchase token once admitted. */
@ApiTags('buyer')
@ApiExtraModels(QueuePositionSchema, AdmittedAccessSchema)
@Controller('sales/:id/queue/:ticket')
export class QueueController {
  constructor(private readonly room: WaitingRoom) {}

  @Get()
  @Authenticated()
  @PurchaseRoute('access')
  @ApiOkResponse({ schema: { oneOf: [{ $ref: getSchemaPath(QueuePositionSchema) }, { $ref: getSchemaPath(AdmittedAccessSchema) }] } })
  @Refuses('NOT_FOUND', 'SALE_ENDED', 'SOLD_OUT', 'BLOCKED')
  status(@Param('id') saleId: string, @Param('ticket') ticket: string, @CurrentPrincipal() principal: Principal): Promise<QueuePosition | object> {
    return this.room.status(saleId, ticket, principal.userId);
  }
}
