import { Controller, Get, Header, Param } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../../auth/auth.guard';
import { Refuses } from '../../http/refusals';
import { AdminSaleSchema, PublicSaleSchema } from '../sale-views.schema';
import { GetSaleService } from './get-sale.service';

@Controller()
export class GetSaleController {
  constructor(private readonly sales: GetSaleService) {}

  @Get('sales/:id')
  @Header('Cache-Control', 'public, max-age=1')
  @ApiTags('buyer')
  @ApiOkResponse({ type: PublicSaleSchema, description: 'cacheable for 1 s, no auth' })
  @Refuses('NOT_FOUND')
  publicView(@Param('id') saleId: string) {
    return this.sales.publicView(saleId);
  }

  @Get('admin/sales/:id')
  @Authenticated('admin')
  @ApiTags('admin')
  @ApiOkResponse({ type: AdminSaleSchema })
  @Refuses('NOT_FOUND')
  adminView(@Param('id') saleId: string) {
    return this.sales.adminView(saleId);
  }
}
