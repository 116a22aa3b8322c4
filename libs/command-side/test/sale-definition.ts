import { SaleDefinition } from '@flash/domain';

/** An open reserve-mode sale for the command side's specs: 8 units over 4 shards, one per buyer, unless overridden. */
export const testSale = (overrides: Partial<SaleDefinition> = {}): SaleDefinition => ({
  saleId: 'sale-1',
  sku: 'sku-1',
  name: 'Phone',
  price: 500,
  totalStock: 8,
  shards: 4,
  startsAt: 0,
  endsAt: 10_000_000,
  perUserLimit: 1,
  inventoryMode: 'reserve',
  holdTtlMs: 60_000,
  challenge: 'none',
  ...overrides,
});
