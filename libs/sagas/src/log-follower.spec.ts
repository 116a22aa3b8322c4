import { encodeEvent, MemoryEventStore, NO_STREAM } from '@flash/event-store';
import pino from 'pino';
import { MemoryCheckpointStore } from './checkpoints/sqlite-checkpoint-store';
import { LogFollower } from './log-follower';
import { LogProcess } from './processes/log-process';

/** A process that only counts what it is given. */
const counting = (): LogProcess & { applied: number } => ({
  name: 'counting',
  applied: 0,
  apply() {
    this.applied++;
  },
  tick: async () => undefined,
  lowWater: () => undefined,
  status: () => ({ backlog: 0, overdueMs: 0 }),
});

describe('LogFollower: the replay from a checkpoint', () => {
  it('lets the event loop run other work (a liveness probe) while it replays a long log, and still applies all of it', async () => {
    const store = new MemoryEventStore(() => 1_000);
    const EVENTS = 60_000;
    for (let i = 0; i < EVENTS / 100; i++) {
      const stream = `inventory-sale-1-${i}`;
      const events = Array.from({ length: 100 }, (_, j) => {
        const orderId = `order-${i * 100 + j}`;
        const data = { orderId, saleId: 'sale-1', shard: i, userId: 'u-1', quantity: 1, unitPrice: 500, amount: 500, expiresAt: 9_000, placedAt: 1_000 };
        return encodeEvent(stream, { type: 'OrderPlaced', data } as never, {});
      });
      await store.append(stream, events, NO_STREAM);
    }
    const process = counting();
    const follower = new LogFollower(store, new MemoryCheckpointStore(), [process], pino({ level: 'silent' }), { name: 'sagas', tickIntervalMs: 60_000, now: () => 1_000 });
    let ticksDuringReplay = 0;
    const tick = (): void => {
      if (process.applied >= EVENTS) return;
      ticksDuringReplay++;
      setImmediate(tick);
    };
    setImmediate(tick);
    await follower.start();
    await follower.waitForPosition(await store.headPosition(), 60_000);
    expect(process.applied).toBe(EVENTS);
    expect(ticksDuringReplay).toBeGreaterThan(1);
    await follower.stop();
  });
});
