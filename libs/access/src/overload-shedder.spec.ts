import { eventually } from '../../../test/support/eventually';
import { EventLoopDelaySampler, monitorEventLoop, OverloadShedder } from './overload-shedder';

/** A sampler that reports whatever delay the test plays. */
class PlayedDelay implements EventLoopDelaySampler {
  delayMs = 0;
  resets = 0;
  closed = false;
  p99Ms(): number {
    return this.delayMs;
  }
  reset(): void {
    this.resets++;
  }
  close(): void {
    this.closed = true;
  }
}

const setUp = (settings: Partial<OverloadShedder['settings']> = {}) => {
  let time = 1_900_000_000_000;
  const sampler = new PlayedDelay();
  const shedder = new OverloadShedder({ maxEventLoopDelayMs: 200, maxInFlight: 3, windowMs: 500, retryAfterMs: 750, ...settings }, { now: () => time, sampler });
  return { shedder, sampler, advance: (ms: number) => (time += ms) };
};

describe('OverloadShedder', () => {
  it('admits while the loop keeps up and few requests are in flight', () => {
    const { shedder } = setUp();
    shedder.enter();
    expect(shedder.check()).toEqual({ ok: true });
  });

  it('sheds with OVERLOADED once the last window p99 delay is above the threshold', () => {
    const { shedder, sampler, advance } = setUp();
    sampler.delayMs = 250;
    expect(shedder.check()).toEqual({ ok: true }); // the window is still open: no verdict from it yet
    advance(500);
    expect(shedder.check()).toEqual({ ok: false, code: 'OVERLOADED', retryAfterMs: 750, reason: expect.stringContaining('250 ms') });
    expect(shedder.eventLoopDelayMs).toBe(250);
  });

  it('admits again after a window in which the loop caught up, resetting the histogram each window', () => {
    const { shedder, sampler, advance } = setUp();
    sampler.delayMs = 400;
    advance(500);
    expect(shedder.check().ok).toBe(false);
    sampler.delayMs = 20;
    advance(499);
    expect(shedder.check().ok).toBe(false);
    advance(1);
    expect(shedder.check()).toEqual({ ok: true });
    expect(sampler.resets).toBe(2);
  });

  it('treats a delay equal to the threshold as keeping up', () => {
    const { shedder, sampler, advance } = setUp();
    sampler.delayMs = 200;
    advance(500);
    expect(shedder.check()).toEqual({ ok: true });
  });

  it('sheds while more requests than the limit are in flight, counting the one being checked', () => {
    const { shedder } = setUp();
    for (let i = 0; i < 3; i++) shedder.enter();
    expect(shedder.check()).toEqual({ ok: true });
    shedder.enter();
    expect(shedder.check()).toEqual({ ok: false, code: 'OVERLOADED', retryAfterMs: 750, reason: expect.stringContaining('4 requests') });
    shedder.leave();
    expect(shedder.check()).toEqual({ ok: true });
    expect(shedder.inFlight).toBe(3);
  });

  it('never counts below zero when leave() comes without enter()', () => {
    const { shedder } = setUp();
    shedder.leave();
    shedder.enter();
    expect(shedder.inFlight).toBe(1);
  });

  it('closes its sampler', () => {
    const { shedder, sampler } = setUp();
    shedder.close();
    expect(sampler.closed).toBe(true);
  });

  it('measures a real blocked event loop with perf_hooks', async () => {
    const sampler = monitorEventLoop(10);
    try {
      expect(sampler.p99Ms()).toBe(0); // no sample yet
      // The histogram's first tick only starts its clock. libuv runs due timers in the order they fall due, so by the
      // time this 20 ms timer fires, the histogram's 10 ms timer (armed before it) has ticked: an ordering fact.
      await new Promise((r) => setTimeout(r, 20));
      // A synchronous hog of at least 250 ms: the histogram's next tick comes after it, so that sample is at least
      // that late (a slower machine makes it later still, never earlier).
      const blockUntil = Date.now() + 250;
      while (Date.now() < blockUntil);
      await eventually('the blocked loop to show in the histogram (p99 > 150 ms)', () => sampler.p99Ms() > 150, { seen: () => sampler.p99Ms() });
      sampler.reset();
      expect(sampler.p99Ms()).toBe(0);
    } finally {
      sampler.close();
    }
  });
});
