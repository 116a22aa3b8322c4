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

/** A process whose work is one release per event (as gate sync's): its backlog is what the replay has not worked off. */
const releasing = (worksWhileReplaying: boolean): LogProcess & { backlog: number; largestBacklog: number; worked: number } => ({
  name: 'releasing',
  worksWhileReplaying,
  backlog: 0,
  largestBacklog: 0,
  worked: 0,
  apply() {
    this.backlog++;
    this.largestBacklog = Math.max(this.largestBacklog, this.backlog);
  },
  async tick() {
    this.worked += this.backlog;
    this.backlog = 0;
  },
  lowWater: () => undefined,
  status() {
    return { backlog: this.backlog, overdueMs: 0 };
  },
});

/** `count` OrderPlaced events, 100 to a shard stream. */
const logOf = async (count: number): Promise<MemoryEventStore> => {
  const store = new MemoryEventStore(() => 1_000);
  for (let i = 0; i < count / 100; i++) {
    const stream = `inventory-sale-1-${i}`;
    const events = Array.from({ length: 100 }, (_, j) => {
      const orderId = `order-${i * 100 + j}`;
      const data = { orderId, saleId: 'sale-1', shard: i, userId: 'u-1', quantity: 1, unitPrice: 500, amount: 500, expiresAt: 9_000, placedAt: 1_000 };
      return encodeEvent(stream, { type: 'OrderPlaced', data } as never, {});
    });
    await store.append(stream, events, NO_STREAM);
  }
  return store;
};

describe('LogFollower: the replay from a checkpoint', () => {
  it('works off the backlog of a process that may work while replaying between slices, so it never holds the whole history', async () => {
    const store = await logOf(60_000);
    const early = releasing(true);
    const late = releasing(false);
    const follower = new LogFollower(store, new MemoryCheckpointStore(), [early, late], pino({ level: 'silent' }), { name: 'sagas', tickIntervalMs: 60_000, now: () => 1_000 });
    await follower.start();
    await follower.waitForPosition(await store.headPosition(), 60_000);

    expect(early.worked + early.backlog).toBe(60_000);
    expect(early.largestBacklog).toBeLessThan(60_000 / 2);
    // The other kind waits for the replay to end: nothing of it was worked before.
    expect(late.worked).toBe(0);
    expect(late.backlog).toBe(60_000);
    await follower.stop();
  });

  it('lets the event loop run other work (a liveness probe) while it replays a long log, and still applies all of it', async () => {
    const EVENTS = 60_000;
    const store = await logOf(EVENTS);
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
