import { Controller, Get, Inject } from '@nestjs/common';
import { NotFound } from '@flash/domain';
import { Clock, CLOCK } from '../clock';
import { SaleCatalog } from '../sales/sale-catalog';
import { currentDemoSale } from './demo-sale';

/** DEMO=1 only: which sale the sale page shows when its address names none. */
@Controller('demo/sale')
export class DemoSaleController {
  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalog,
  ) {}

  @Get()
  current(): { saleId: string } {
    const sale = currentDemoSale(this.catalog, this.clock.now());
    if (!sale) throw new NotFound('sale', 'demo');
    return { saleId: sale.saleId };
  }
}
