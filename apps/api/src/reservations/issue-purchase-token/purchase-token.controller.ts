import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { NotFound, SaleEnded, SaleNotStarted, SoldOut } from '@flash/domain';
import { ProofOfWork, PurchaseTokens } from '@flash/access';
import { PurchaseRoute } from '../../admission/purchase-route.decorator';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { Refuses } from '../../http/refusals';
import { Clock, CLOCK, Inventories, SaleCatalogue } from '@flash/command-side';

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

class PurchaseAccessSchema {
  @ApiProperty({ description: 'an HMAC bound to the user and the sale, valid up to 120 s' }) purchaseToken!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiPropertyOptional({ type: () => PowChallengeSchema, description: "when the sale's challenge is pow" }) challenge?: PowChallengeSchema;
}

/** The dynamic order URL (seed 001): a purchase token exists only from the sale's start. */
@ApiTags('buyer')
@Controller('sales/:id/access')
export class PurchaseTokenController {
  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalogue,
    private readonly inventory: Inventories,
    private readonly tokens: PurchaseTokens,
    private readonly challenges: ProofOfWork,
  ) {}

  @Get()
  @Authenticated()
  @PurchaseRoute('access')
  @ApiOkResponse({ type: PurchaseAccessSchema })
  @Refuses('NOT_FOUND', 'SALE_NOT_STARTED', 'SALE_ENDED', 'SOLD_OUT')
  async access(@Param('id') saleId: string, @CurrentPrincipal() principal: Principal) {
    const sale = this.catalog.sale(saleId);
    if (!sale) throw new NotFound('sale', saleId);
    const now = this.clock.now();
    if (now < sale.definition.startsAt) throw new SaleNotStarted(saleId, sale.definition.startsAt - now);
    if (sale.closed || now >= sale.definition.endsAt) throw new SaleEnded(saleId);
    if ((await this.inventory.forSale(saleId)).available() <= 0) throw new SoldOut(saleId);
    const { purchaseToken, expiresAt } = this.tokens.issue(principal.userId, saleId, now);
    const challenge = sale.definition.challenge === 'pow' ? await this.challenges.issue(principal.userId, saleId, now) : undefined;
    return { purchaseToken, expiresAt: new Date(expiresAt).toISOString(), ...(challenge ? { challenge } : {}) };
  }
}
