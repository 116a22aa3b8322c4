import { AppendOptions, AppendResult, EventData, ExpectedRevision, NO_STREAM } from '@flash/event-store';
import { ChaosClient } from './chaos-client';
import { checkRun } from './checker';
import { FaultyEventStore } from './faulty-store';
import { History } from './history';
import { InProcessApi } from './in-process-app';
import { runRng } from './rng';
import { chaosSale, createSale, fetchTokens, planSpike, runSpike } from './workload';

/** A store that acknowledges some inventory appends without writing them: what a lost ack looks like. */
class LyingStore extends FaultyEventStore {
  lying = false;
  private readonly lieRng = runRng(7, 'lying-store', 0);

  override async append(streamId: string, events: readonly EventData[], expected: ExpectedRevision, options?: AppendOptions): Promise<AppendResult> {
    if (this.lying && streamId.startsWith('inventory-') && this.lieRng() < 0.4) {
      return { nextExpectedRevision: (expected === NO_STREAM ? -1 : expected) + events.length, position: 0 };
    }
    return super.append(streamId, events, expected, options);
  }
}

/**
 * The checker end to end, through a real server and store (checker-selftest.chaos-spec.ts checks every rule on
 * synthetic histories): a store that loses acknowledged writes, and an answer the server never gave.
 */
describe('chaos checker against a lying store', () => {
  it('reports the lost acknowledgements and the answer with a wrong order id, by name', async () => {
    const rng = runRng(7, 'checker-selftest', 0);
    let store: LyingStore | undefined;
    const api = await InProcessApi.start({
      wrapStore: (inner) => (store = new LyingStore(inner, rng, { odds: { 'written-then-error': 0, 'slow-write': 0, 'timeout-unwritten': 0, 'timeout-late-write': 0 }, holdMs: [0, 0], streams: () => false })),
    });
    const client = new ChaosClient(api.baseUrl, api.jwtSecret);
    try {
      const saleId = await createSale(client, chaosSale({ totalStock: 10, shards: 1, perUserLimit: 2 }));
      const history = new History();
      const attempts = planSpike(rng, saleId, 'selftest', 8, 2);
      const tokens = await fetchTokens(client, saleId, attempts.map((a) => a.userId));
      store!.lying = true;
      await runSpike(client, history, rng, { saleId, attempts, spreadMs: 50, clientRetries: [0, 0], retryBackoffMs: [0, 0] }, tokens);
      store!.lying = false;
      // An acknowledgement no server gave: another shard, another order id.
      const ghost = history.invoke('reserve', 'ghost', { saleId, userId: 'ghost', idempotencyKey: 'ghost-key-0001', quantity: 1 });
      history.complete(ghost, 'ok', { status: 201, orderId: 'not-an-order', body: { orderId: 'not-an-order', saleId, userId: 'ghost', quantity: 1, status: 'reserved', shard: 3 } });

      const report = await checkRun({ history, client, sale: { saleId, totalStock: 10, perUserLimit: 2 }, dataDir: api.dataDir });
      const lost = report.violations.filter((v) => v.kind === 'LOST_ACK' && !v.message.includes('ghost'));
      expect(lost.length).toBeGreaterThan(0);
      expect(report.violations.filter((v) => v.kind === 'WRONG_ORDER_ID').map((v) => v.message)).toEqual([
        expect.stringContaining('was answered with order not-an-order, not its reservation id'),
      ]);
    } finally {
      await client.close();
      await api.close();
      api.cleanup();
    }
  }, 60_000);
});
