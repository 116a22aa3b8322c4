import { Controller, Get, Post } from '@nestjs/common';
import { PurchaseRoute } from '../admission/purchase-route.decorator';
import { Authenticated } from '../auth/auth.guard';
import { JsonBody } from './json-body';
import { Refuses, refusalsOf } from './refusals';

class Body {}

@Controller('things')
@Authenticated('admin')
class AdminThings {
  @Get(':id')
  @Refuses('NOT_FOUND')
  one(): void {}

  @Post()
  @Refuses('SOLD_OUT')
  add(@JsonBody(Body) _body: Body): void {}

  @Get()
  all(): void {}
}

@Controller('sales')
class BuyerThings {
  @Post(':id/buy')
  @Authenticated()
  @PurchaseRoute('access')
  @Refuses('SALE_ENDED')
  buy(): void {}
}

const sorted = (codes: readonly string[]): string[] => [...codes].sort();

describe('the error codes a route declares', () => {
  it("adds the controller's codes (an admin route: UNAUTHENTICATED, FORBIDDEN) to the handler's own", () => {
    expect(sorted(refusalsOf(AdminThings, AdminThings.prototype.one))).toEqual(['FORBIDDEN', 'NOT_FOUND', 'UNAUTHENTICATED']);
    expect(sorted(refusalsOf(AdminThings, AdminThings.prototype.all))).toEqual(['FORBIDDEN', 'UNAUTHENTICATED']);
  });

  it('counts what @JsonBody refuses, beside the codes of the handler', () => {
    expect(sorted(refusalsOf(AdminThings, AdminThings.prototype.add))).toEqual(['FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'SOLD_OUT', 'UNAUTHENTICATED', 'VALIDATION_FAILED']);
  });

  it('unites several declarations on one handler: a signed-in buyer, the purchase checks, its own', () => {
    expect(sorted(refusalsOf(BuyerThings, BuyerThings.prototype.buy))).toEqual(['BLOCKED', 'DEGRADED', 'OVERLOADED', 'RATE_LIMITED', 'SALE_ENDED', 'UNAUTHENTICATED']);
  });
});
