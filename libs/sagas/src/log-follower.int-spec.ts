import { QuotaReleased } from '@flash/domain';
import { RecordedEvent } from '@flash/event-store';
import { FakeClock, FOLLOWER_NAME, MINUTE, PlacedHold, removeDir, SagaFixture, SECOND, T0, tempDir } from '../test/saga-fixture';
import { MemoryCheckpointStore, SqliteCheckpointStore } from './checkpoints/sqlite-checkpoint-store';
import { LogProcess } from './processes/log-process';

const HOLD_TTL = MINUTE;
const SETTLE_AFTER = 5 * SECOND;
const CLIENT_WINDOW = 30 * SECOND;

const tickAll = async (processes: readonly LogProcess[], now: number): Promise<void> => {
  for (const p of processes) await p.tick(now);
};

const reasonsOf = async (fx: SagaFixture, reservationId: string): Promise<string[]> =>
  ((await fx.eventsAbout(reservationId, 'QuotaReleased')) as QuotaReleased[]).map((e) => e.data.reason);

interface Scenario {
  readonly paid: PlacedHold;
  readonly expired: PlacedHold;
  readonly cancelled: PlacedHold;
  readonly paidLate: PlacedHold;
  readonly live: PlacedHold;
  readonly redone: string;
  readonly abandoned: string;
}

/**
 * A sale that has been through every ending the sagas handle, ticked until nothing is left to do at T0 + 3 min:
 * dave's claim is first looked at past its client window, erin's within it.
 */
const settledSale = async (fx: SagaFixture): Promise<Scenario> => {
  const abandoned = await fx.claim('dave', 'k1');
  const paid = await fx.reserve('alice', 'k1');
  const expired = await fx.reserve('bob', 'k1');
  const cancelled = await fx.reserve('carol', 'k1');
  const paidLate = await fx.reserve('frank', 'k1');
  await fx.pay(paid);
  await fx.port.decide(fx.sale.saleId, cancelled.shard, { type: 'CancelOrder', orderId: cancelled.orderId }, {});
  await fx.tickAt(T0 + HOLD_TTL);
  fx.clock.set(T0 + HOLD_TTL + SECOND);
  await fx.pay(paidLate);
  fx.clock.set(T0 + 2 * MINUTE + 50 * SECOND);
  const redone = await fx.claim('erin', 'k1');
  await fx.tickAt(T0 + 3 * MINUTE);
  const live = fx.inventory.findOrder(redone);
  if (!live) throw new Error('the compensation did not redo the reservation');
  await fx.tick();
  return { paid, expired, cancelled, paidLate, live: { orderId: redone, userId: 'erin', ...live }, redone, abandoned };
};

describe('log follower: at-least-once delivery (fake clock)', () => {
  let fx: SagaFixture;
  beforeEach(async () => {
    fx = await SagaFixture.start({ settleAfterMs: SETTLE_AFTER, clientWindowMs: CLIENT_WINDOW, sale: { holdTtlMs: HOLD_TTL } });
  });
  afterEach(() => fx.stop());

  it('settles a busy sale the way each ending demands (the baseline the redelivery tests compare with)', async () => {
    const s = await settledSale(fx);

    expect((await fx.order(s.paid))?.status).toBe('paid');
    expect((await fx.order(s.expired))?.status).toBe('expired');
    expect((await fx.order(s.cancelled))?.status).toBe('cancelled');
    expect((await fx.order(s.paidLate))?.status).toBe('refund_pending');
    expect((await fx.order(s.live))?.status).toBe('reserved');
    expect(await reasonsOf(fx, s.paid.orderId)).toEqual([]);
    expect(await reasonsOf(fx, s.expired.orderId)).toEqual(['expired']);
    expect(await reasonsOf(fx, s.cancelled.orderId)).toEqual(['cancelled']);
    expect(await reasonsOf(fx, s.paidLate.orderId)).toEqual(['expired']);
    expect(await reasonsOf(fx, s.redone)).toEqual([]);
    expect(await reasonsOf(fx, s.abandoned)).toEqual(['compensated']);
    expect(fx.follower.checkpoint()).toBeLessThan(await fx.positionOf('OrderPlaced', s.live.orderId));
  });

  it('appends nothing when fresh processes get every event twice in a row and tick', async () => {
    await settledSale(fx);
    const before = await fx.log();
    const processes = fx.createProcesses();

    await fx.deliver(processes, { times: 2 });
    await tickAll(processes, fx.clock.now());
    await tickAll(processes, fx.clock.now() + SECOND);

    expect(await fx.log()).toEqual(before);
  });

  it('appends nothing when the same processes get the whole log a second time and tick', async () => {
    await settledSale(fx);
    const before = await fx.log();
    const processes = fx.createProcesses();

    await fx.deliver(processes);
    await fx.deliver(processes);
    await tickAll(processes, fx.clock.now());

    expect(await fx.log()).toEqual(before);
  });

  it('appends nothing when a follower restarted from checkpoint 0 replays the whole log and ticks', async () => {
    await settledSale(fx);
    const before = await fx.log();

    const follower = await fx.restartFollower(new MemoryCheckpointStore());
    await fx.tick();
    await fx.tick();

    expect(follower.status(fx.clock.now()).processes).toMatchObject({ expiry: { backlog: 1 }, 'quota-release': { backlog: 0 }, compensation: { backlog: 0 } });
    expect(await fx.store.headPosition()).toBe(before.length);
    expect(await fx.log()).toEqual(before);
  });

  it('has every due effect happen once when two sets of processes each get every event twice', async () => {
    const holds = [await fx.reserve('alice', 'k1'), await fx.reserve('bob', 'k1')];
    fx.clock.set(T0 + HOLD_TTL - 10 * SECOND);
    const crashed = await fx.claim('carol', 'k1'); // redone at the first sweep, within its window
    const sweepers = [fx.createProcesses(), fx.createProcesses()];
    let seen = 0;
    const deliverNew = async (): Promise<void> => {
      const head = await fx.store.headPosition();
      for (const processes of sweepers) await fx.deliver(processes, { after: seen, times: 2 });
      seen = head;
    };

    for (const now of [T0 + HOLD_TTL, T0 + HOLD_TTL + SECOND, T0 + HOLD_TTL + 2 * SECOND]) {
      fx.clock.set(now);
      await deliverNew();
      await Promise.all(sweepers.map((processes) => tickAll(processes, now)));
    }
    await deliverNew();

    for (const hold of holds) {
      expect(await fx.count('ReservationExpired', hold.orderId)).toBe(1);
      expect(await fx.count('StockReleased', hold.orderId)).toBe(1);
      expect(await reasonsOf(fx, hold.orderId)).toEqual(['expired']);
    }
    expect(await fx.count('OrderPlaced', crashed)).toBe(1);
    expect(await reasonsOf(fx, crashed)).toEqual([]);
    for (const processes of sweepers) {
      expect(processes.map((p) => p.status(T0 + HOLD_TTL + 2 * SECOND).backlog)).toEqual([1, 0, 0]); // carol's redone hold
    }
  });
});

describe('log follower: restart from a SQLite checkpoint (fake clock)', () => {
  const dirs: string[] = [];
  const open: SagaFixture[] = [];
  const start = async (dir: string, now: number): Promise<SagaFixture> => {
    const fx = await SagaFixture.start({
      dataDir: dir,
      clock: new FakeClock(now),
      settleAfterMs: SETTLE_AFTER,
      clientWindowMs: CLIENT_WINDOW,
      sale: { holdTtlMs: HOLD_TTL },
    });
    open.push(fx);
    return fx;
  };
  const newDir = (): string => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  const savedCheckpoint = (dir: string): number => {
    const checkpoints = new SqliteCheckpointStore(`${dir}/worker.sqlite`);
    try {
      return checkpoints.load(FOLLOWER_NAME);
    } finally {
      checkpoints.close();
    }
  };
  afterEach(async () => {
    for (const fx of open.splice(0)) await fx.stop().catch(() => undefined);
  });
  afterAll(() => dirs.forEach(removeDir));

  it('expires every hold pending at shutdown exactly once after a restart past the deadlines, never checkpointing past the oldest', async () => {
    const dir = newDir();
    const first = await start(dir, T0);
    const a = await first.reserve('alice', 'k1');
    first.clock.set(T0 + 10 * SECOND);
    const b = await first.reserve('bob', 'k1');
    first.clock.set(T0 + 20 * SECOND);
    const c = await first.reserve('carol', 'k1');
    const placedA = await first.positionOf('OrderPlaced', a.orderId);
    const placedB = await first.positionOf('OrderPlaced', b.orderId);

    await first.tickAt(T0 + 30 * SECOND);
    expect(first.follower.checkpoint()).toBeLessThanOrEqual(placedA - 1);
    expect(savedCheckpoint(dir)).toBe(first.follower.checkpoint());

    await first.tickAt(T0 + HOLD_TTL);
    await first.tick();
    expect((await first.order(a))?.status).toBe('expired');
    // A crash between dave's buyer append and his shard append, noticed only after the restart, past his window.
    first.clock.set(T0 + HOLD_TTL + SECOND);
    const crashed = await first.claim('dave', 'k1');
    await first.settle();
    expect(first.follower.checkpoint()).toBeLessThanOrEqual(placedB - 1);
    expect(first.follower.checkpoint()).toBeGreaterThanOrEqual(placedA);
    await first.stop();
    open.splice(open.indexOf(first), 1);
    expect(savedCheckpoint(dir)).toBeLessThanOrEqual(placedB - 1);

    const second = await start(dir, T0 + 10 * MINUTE);
    expect(second.follower.checkpoint()).toBeLessThanOrEqual(placedB - 1);
    expect(second.follower.status(second.clock.now()).processes).toMatchObject({ expiry: { backlog: 2 }, compensation: { backlog: 1 } });

    await second.tick();
    await second.tick();
    await second.tickAt(T0 + 11 * MINUTE);

    for (const hold of [a, b, c]) {
      expect((await second.order(hold))?.status).toBe('expired');
      expect(await second.count('ReservationExpired', hold.orderId)).toBe(1);
      expect(await second.count('StockReleased', hold.orderId)).toBe(1);
      expect(await reasonsOf(second, hold.orderId)).toEqual(['expired']);
    }
    expect(await reasonsOf(second, crashed)).toEqual(['compensated']);
    expect(second.follower.checkpoint()).toBe(await second.store.headPosition());
  });

  it('heals a crash between the shard append and the quota release: the release happens once after restart', async () => {
    const dir = newDir();
    const first = await start(dir, T0);
    const hold = await first.reserve('alice', 'k1', 2);
    await first.tick(); // checkpoint saved below the hold
    first.clock.set(T0 + HOLD_TTL);
    // The expiry is recorded on the shard, then the process dies before any saga tick releases the quota.
    await first.port.decide(first.sale.saleId, hold.shard, { type: 'ExpireReservation', orderId: hold.orderId }, {});
    await first.crash();
    open.splice(open.indexOf(first), 1);

    const second = await start(dir, T0 + HOLD_TTL + SECOND);
    await second.tick();
    await second.tick();

    expect(await second.count('ReservationExpired', hold.orderId)).toBe(1);
    expect(await reasonsOf(second, hold.orderId)).toEqual(['expired']);
    expect((await second.buyer('alice')).claimedQuantity).toBe(0);
  });

  it('finds nothing to redo after a clean restart once every hold has ended', async () => {
    const dir = newDir();
    const first = await start(dir, T0);
    await first.reserve('alice', 'k1');
    await first.reserve('bob', 'k1');
    await first.tickAt(T0 + HOLD_TTL);
    await first.tick();
    const head = await first.store.headPosition();
    expect(first.follower.checkpoint()).toBe(head);
    await first.stop();
    open.splice(open.indexOf(first), 1);

    const second = await start(dir, T0 + 30 * MINUTE);
    await second.tick();

    const log: RecordedEvent[] = await second.log();
    expect(log).toHaveLength(head);
    expect(second.follower.status(second.clock.now()).processes).toMatchObject({
      expiry: { backlog: 0 },
      'quota-release': { backlog: 0 },
      compensation: { backlog: 0 },
    });
  });
});
