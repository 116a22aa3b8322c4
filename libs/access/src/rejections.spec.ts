import { RejectionCounter } from './rejections';

describe('RejectionCounter', () => {
  it('counts refusals by sale and code', () => {
    const counter = new RejectionCounter();
    counter.record('s1', 'SOLD_OUT');
    counter.record('s1', 'SOLD_OUT');
    counter.record('s1', 'RATE_LIMITED');
    counter.record('s2', 'DEGRADED');
    expect(counter.forSale('s1')).toEqual({ SOLD_OUT: 2, RATE_LIMITED: 1 });
    expect(counter.snapshot()).toEqual({ s1: { SOLD_OUT: 2, RATE_LIMITED: 1 }, s2: { DEGRADED: 1 } });
    expect(counter.forSale('never-refused')).toEqual({});
  });

  it('hands out copies, not its own counters', () => {
    const counter = new RejectionCounter();
    counter.record('s1', 'BLOCKED');
    counter.snapshot().s1!.BLOCKED = 99;
    counter.forSale('s1').BLOCKED = 99;
    expect(counter.forSale('s1')).toEqual({ BLOCKED: 1 });
  });

  it('tells the listener about every refusal, even for sales beyond the bound', () => {
    const seen: string[] = [];
    const counter = new RejectionCounter({ maxSales: 1, onRecord: (saleId, code) => seen.push(`${saleId}/${code}`) });
    counter.record('s1', 'OVERLOADED');
    counter.record('s2', 'OVERLOADED');
    expect(seen).toEqual(['s1/OVERLOADED', 's2/OVERLOADED']);
    expect(counter.snapshot()).toEqual({ s1: { OVERLOADED: 1 } });
  });
});
