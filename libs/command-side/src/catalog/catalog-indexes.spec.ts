import { DomainEvent } from '@flash/domain';
import { ClaimantIndex } from './claimant-index';
import { OrderLocator } from './order-locator';

const placed = (saleId: string, orderId: string, shard: number) => ({ type: 'OrderPlaced', data: { saleId, orderId, shard } }) as unknown as DomainEvent;
const claimed = (saleId: string, userId: string) => ({ type: 'QuotaClaimed', data: { saleId, userId } }) as unknown as DomainEvent;

describe('OrderLocator', () => {
  it('locates every order on its sale and shard, across sales, whatever the shard (0..255)', () => {
    const c = new OrderLocator();
    const expected = new Map<string, { saleId: string; shard: number }>();
    for (let i = 0; i < 2000; i++) {
      const saleId = `sale-${i % 7}`;
      const shard = (i * 37) % 256;
      c.apply(placed(saleId, `order-${i}`, shard));
      expected.set(`order-${i}`, { saleId, shard });
    }
    for (const [orderId, location] of expected) expect(c.locate(orderId)).toEqual(location);
    expect(c.locate('no-such-order')).toBeUndefined();
  });
});

describe('ClaimantIndex', () => {
  it('knows its claimants per sale: a claim in one sale says nothing of another', () => {
    const c = new ClaimantIndex();
    c.apply(claimed('sale-a', 'u1'));
    c.note('sale-b', 'u2');

    expect(c.mayHaveClaimed('sale-a', 'u1')).toBe(true);
    expect(c.mayHaveClaimed('sale-b', 'u2')).toBe(true);
    expect(c.mayHaveClaimed('sale-b', 'u1')).toBe(false);
    expect(c.mayHaveClaimed('sale-a', 'u2')).toBe(false);
    expect(c.mayHaveClaimed('sale-c', 'u1')).toBe(false);
  });
});
