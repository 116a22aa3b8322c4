import { Controller, Get, Header, Param } from '@nestjs/common';
import { Authenticated } from '../../auth/auth.guard';
import { GetSaleService } from './get-sale.service';

@Controller()
export class GetSaleController {
  constructor(private readonly sales: GetSaleService) {}

  @Get('sales/:id')
  @Header('Cache-Control', 'public, max-age=1')
  publicView(@Param('id') saleId: string) {
    return this.sales.publicView(saleId);
  }

  @Get('admin/sales/:id')
  @Authenticated('admin')
  adminView(@Param('id') saleId: string) {
    return this.sales.adminView(saleId);
  }
}
