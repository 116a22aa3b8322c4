import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NotFound, SaleEnded, SaleNotStarted, SoldOut } from '@flash/domain';
import { PurchaseRoute } from '../../admission/purchase-route.decorator';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { Refuses } from '../../http/refusals';
import { Clock, CLOCK, Inventories, SaleCatalogue } from '@flash/command-side';
import { WaitingRoom } from '../wait-in-line/waiting-room';
import { PurchaseGrants } from './purchase-grants';

class PowChallengeSchema {
  @ApiProperty({ enum: ['pow'] }) type!: string;
  @ApiProperty({ enum: ['SHA-256'] }) algorithm!: string;
  @ApiProperty() salt!: string;
  @ApiProperty({ description: 'the secret number is in 0..difficulty' }) difficulty!: number;
  @ApiProperty({ description: 'the same bound, under the name the ALTCHA widget reads' }) maxnumber!: number;
  @ApiProperty() challenge!: string;
  @ApiProperty() signature!: string;
  @ApiProperty({ description: 'an answer sent sooner after the issue is refused' }) minSolveMs!: number;
}

export class PurchaseAccessSchema {
  @ApiProperty({ description: 'an HMAC bound to the user and the sale, valid up to 120 s' }) purchaseToken!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiPropertyOptional({ type: () => PowChallengeSchema, description: "when the sale's challenge is pow" }) challenge?: PowChallengeSchema;
}

class QueueEntrySchema {
  @ApiProperty({ description: 'signed, bound to the user and the sale: GET /sales/{id}/queue/{ticket} follows it' }) queueTicket!: string;
  @ApiProperty({ description: 'the live place in line, 1 = next' }) position!: number;
  @ApiProperty({ description: 'the wait at the current admission rate' }) estimatedWaitMs!: number;
}

/**
 * The dynamic order URL (seed 001): a purchase token exists only from the sale's start. A sale with its waiting room
 * on answers 202 with a place in line instead (WaitingRoom), and the token comes from the queue route once admitted.
 */
@ApiTags('buyer')
@Controller('sales/:id/access')
export class PurchaseTokenController {
  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalogue,
    private readonly inventory: Inventories,
    private readonly grants: PurchaseGrants,
    private readonly room: WaitingRoom,
  ) {}

  @Get()
  @Authenticated()
  @PurchaseRoute('access')
  @ApiOkResponse({ type: PurchaseAccessSchema })
  @ApiAcceptedResponse({ type: QueueEntrySchema, description: "the sale's waiting room is on: a place in line instead of a token" })
  @Refuses('NOT_FOUND', 'SALE_NOT_STARTED', 'SALE_ENDED', 'SOLD_OUT', 'BLOCKED', 'RATE_LIMITED')
  async access(
    @Param('id') saleId: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<object> {
    const sale = this.catalog.sale(saleId);
    if (!sale) throw new NotFound('sale', saleId);
    const now = this.clock.now();
    if (now < sale.definition.startsAt) throw new SaleNotStarted(saleId, sale.definition.startsAt - now);
    if (sale.closed || now >= sale.definition.endsAt) throw new SaleEnded(saleId);
    if (await (await this.inventory.forSale(saleId)).soldOut()) throw new SoldOut(saleId);
    if (!this.room.isOn(sale.definition)) return this.grants.grant(sale.definition, principal.userId, now);
    const answer = await this.room.enter(sale.definition, principal.userId, request.ip, now);
    reply.status(answer.status);
    return answer.body;
  }
}
