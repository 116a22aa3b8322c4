import { Controller, Get, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { NotFound } from '@flash/domain';
import { Clock, CLOCK, SaleCatalogue } from '@flash/command-side';
import { currentDemoSale } from './demo-sale';

/** DEMO=1 only: which sale the sale page shows when its address names none. */
@ApiExcludeController()
@Controller('demo/sale')
export class DemoSaleController {
  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalogue,
  ) {}

  @Get()
  current(): { saleId: string } {
    const sale = currentDemoSale(this.catalog, this.clock.now());
    if (!sale) throw new NotFound('sale', 'demo');
    return { saleId: sale.saleId };
  }
}
