import { SaleStatusCache } from './sale-status-cache';

describe('SaleStatusCache', () => {
  const setUp = () => {
    let now = 0;
    let renders = 0;
    const cache = new SaleStatusCache<string>(1000, () => now);
    const render = (saleId: string) => () => Promise.resolve(`${saleId}#${++renders}`);
    return { cache, render, advance: (ms: number) => (now += ms), renders: () => renders };
  };

  it('serves a sale from memory for its TTL and renders it again after', async () => {
    const t = setUp();
    expect(await t.cache.get('s1', t.render('s1'))).toBe('s1#1');
    t.advance(999);
    expect(await t.cache.get('s1', t.render('s1'))).toBe('s1#1');
    t.advance(1);
    expect(await t.cache.get('s1', t.render('s1'))).toBe('s1#2');
  });

  it('keeps each sale apart', async () => {
    const t = setUp();
    await t.cache.get('s1', t.render('s1'));
    expect(await t.cache.get('s2', t.render('s2'))).toBe('s2#2');
    expect(await t.cache.get('s1', t.render('s1'))).toBe('s1#1');
  });

  it('keeps nothing when rendering fails (a sale that does not exist)', async () => {
    const t = setUp();
    const missing = () => Promise.reject(new Error('no such sale'));
    await expect(t.cache.get('nope', missing)).rejects.toThrow('no such sale');
    expect(await t.cache.get('nope', t.render('nope'))).toBe('nope#1');
  });
});
