import path from 'node:path';
import {
  buyerDecider,
  BuyerState,
  DomainEvent,
  initialBuyerState,
  inventoryShardDecider,
  inventoryStream,
  paymentDecider,
  PaymentState,
  saleDecider,
  SaleState,
  saleStream,
  ShardEvent,
  ShardState,
} from '@flash/domain';
import { decodeEvent, SqliteEventStore } from '@flash/event-store';

/**
 * Replay by hand (what row 6 measures when the audit CLI is missing or fails): every event of the log, page by page
 * through SqliteEventStore.readAll, decoded (upcast) and folded by the domain deciders into the state of every sale,
 * buyer, inventory shard and payment. Prints one JSON line: events, seconds, events per second.
 */
const PAGE_SIZE = 2000;

const main = async (): Promise<void> => {
  const dataDir = process.argv[2];
  if (!dataDir) throw new Error('usage: fold.js DATA_DIR');
  const started = performance.now();
  const store = new SqliteEventStore({ file: path.join(dataDir, 'events.sqlite'), readonly: true });
  const head = await store.headPosition();
  const sales = new Map<string, SaleState>();
  const buyers = new Map<string, BuyerState>();
  const shards = new Map<string, ShardState>();
  const payments = new Map<string, PaymentState>();
  let events = 0;
  for (let after = 0; after < head; ) {
    const page = await store.readAll({ after, maxCount: PAGE_SIZE });
    if (page.length === 0) break;
    for (const recorded of page) {
      const event: DomainEvent = decodeEvent(recorded);
      switch (event.type) {
        case 'SaleScheduled':
        case 'SaleStockAllocated':
        case 'SaleClosed':
          sales.set(recorded.streamId, saleDecider.evolve(sales.get(recorded.streamId) ?? saleDecider.initialState(), event));
          break;
        case 'QuotaClaimed':
        case 'QuotaReleased':
          buyers.set(recorded.streamId, buyerDecider.evolve(buyers.get(recorded.streamId) ?? initialBuyerState(event.data.saleId, event.data.userId), event));
          break;
        case 'PaymentReceived':
          payments.set(recorded.streamId, paymentDecider.evolve(payments.get(recorded.streamId) ?? paymentDecider.initialState(), event));
          break;
        default: {
          const shardEvent: ShardEvent = event;
          const stream = inventoryStream(shardEvent.data.saleId, shardEvent.data.shard);
          let state = shards.get(stream);
          if (!state) {
            const sale = sales.get(saleStream(shardEvent.data.saleId));
            const definition = sale && sale.status !== 'none' ? sale : undefined;
            state = inventoryShardDecider.initialState({
              saleId: shardEvent.data.saleId,
              shard: shardEvent.data.shard,
              allocated: definition?.allocations[shardEvent.data.shard] ?? 0,
              inventoryMode: definition?.definition.inventoryMode ?? 'reserve',
              holdTtlMs: definition?.definition.holdTtlMs ?? 0,
              unitPrice: definition?.definition.price ?? 0,
            });
          }
          shards.set(stream, inventoryShardDecider.evolve(state, shardEvent));
        }
      }
      events++;
    }
    after = (page[page.length - 1] as { position: number }).position;
  }
  await store.close();
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ events, seconds, eventsPerSecond: events / seconds, sales: sales.size, buyers: buyers.size, shards: shards.size }) + '\n');
};

main().catch((error: unknown) => {
  process.stderr.write(`fold failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
