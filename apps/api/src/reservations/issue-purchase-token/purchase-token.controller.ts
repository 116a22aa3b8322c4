import { Controller, Get, Inject, Param } from '@nestjs/common';
import { NotFound, SaleEnded, SaleNotStarted, SoldOut } from '@flash/domain';
import { ProofOfWork, PurchaseTokens } from '@flash/access';
import { PurchaseRoute } from '../../admission/purchase-route.decorator';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { Clock, CLOCK, Inventories, SaleCatalogue } from '@flash/command-side';

/** The dynamic order URL (seed 001): a purchase token exists only from the sale's start. */
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
