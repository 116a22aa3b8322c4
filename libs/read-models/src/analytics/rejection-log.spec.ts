import { DocumentIncrement, DocumentStore } from '../document-store';
import { RejectionLog } from './rejection-log';

/** Only `increment` matters here; it can be made to wait or fail. */
const incrementOnly = (increment: (batch: readonly DocumentIncrement[]) => Promise<void>) => ({ increment }) as unknown as DocumentStore;

describe('RejectionLog', () => {
  it('counts by sale, code and second, and hands the counts to the store on flush', async () => {
    const written: DocumentIncrement[] = [];
    const log = new RejectionLog(incrementOnly(async (batch) => void written.push(...batch)));
    log.record('s1', 'SOLD_OUT', 1_000);
    log.record('s1', 'SOLD_OUT', 1_999);
    log.record('s1', 'RATE_LIMITED', 2_000);
    log.record('s2', 'SOLD_OUT', 1_000);
    expect(log.pending('s1').map((p) => [p.code, p.t, p.count])).toEqual([
      ['SOLD_OUT', 1000, 2],
      ['RATE_LIMITED', 2000, 1],
    ]);
    await log.flush();
    expect(log.pending('s1')).toEqual([]);
    expect(written).toContainEqual({ collection: 'rejections', id: 's1:SOLD_OUT:1000', inc: { count: 2 }, setOnInsert: { saleId: 's1', code: 'SOLD_OUT', t: 1000 } });
    expect(written).toHaveLength(3);
  });

  it('still counts a batch while it is being written', async () => {
    let finish: () => void = () => undefined;
    const log = new RejectionLog(incrementOnly(() => new Promise<void>((resolve) => (finish = resolve))));
    log.record('s1', 'SOLD_OUT', 1_000);
    const flushing = log.flush();
    log.record('s1', 'SOLD_OUT', 1_000);
    expect(log.pending('s1').reduce((n, p) => n + p.count, 0)).toBe(2);
    finish();
    await flushing;
    expect(log.pending('s1').reduce((n, p) => n + p.count, 0)).toBe(1);
  });

  it('keeps the counts of a failed flush for the next one', async () => {
    let fail = true;
    const written: DocumentIncrement[] = [];
    const log = new RejectionLog(
      incrementOnly(async (batch) => {
        if (fail) throw new Error('store down');
        written.push(...batch);
      }),
    );
    log.record('s1', 'SOLD_OUT', 1_000);
    await expect(log.flush()).rejects.toThrow('store down');
    log.record('s1', 'SOLD_OUT', 1_000);
    fail = false;
    await log.flush();
    expect(written).toEqual([expect.objectContaining({ id: 's1:SOLD_OUT:1000', inc: { count: 2 } })]);
  });
});
