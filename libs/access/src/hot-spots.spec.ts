import fc from 'fast-check';
import { DEFAULT_HOT_SPOT_SETTINGS, FrequentKeys, HotSpots, HotSpotSettings } from './hot-spots';

const settings = (overrides: Partial<HotSpotSettings> = {}, throttle: Partial<HotSpotSettings['throttle']> = {}): HotSpotSettings => ({
  ...DEFAULT_HOT_SPOT_SETTINGS,
  ...overrides,
  throttle: { ...DEFAULT_HOT_SPOT_SETTINGS.throttle, ...throttle },
});

/** A clock the test moves by hand. */
const manualClock = (start = 1_000_000) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

describe('FrequentKeys (Misra–Gries)', () => {
  it('holds at most its capacity of counters with 100k distinct keys', () => {
    const summary = new FrequentKeys(64);
    for (let i = 0; i < 100_000; i++) summary.add(`ip-${i}`);
    expect(summary.size).toBeLessThanOrEqual(64);
  });

  it('keeps every key above n / (capacity + 1) with a count short by at most that much', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 2000 }), fc.integer({ min: 1, max: 16 }), (stream, capacity) => {
        const summary = new FrequentKeys(capacity);
        const truth = new Map<string, number>();
        for (const n of stream) {
          summary.add(`k${n}`);
          truth.set(`k${n}`, (truth.get(`k${n}`) ?? 0) + 1);
        }
        const held = new Map(summary.entries());
        const slack = stream.length / (capacity + 1);
        expect(held.size).toBeLessThanOrEqual(capacity);
        for (const [key, count] of truth) {
          const estimate = held.get(key) ?? 0;
          expect(estimate).toBeLessThanOrEqual(count);
          expect(estimate).toBeGreaterThanOrEqual(count - slack);
        }
      }),
    );
  });
});

describe('HotSpots', () => {
  it('ranks users, IPs and sales by their rate over the window of complete slices', () => {
    const clock = manualClock();
    const hot = new HotSpots(settings({ slices: 5 }), { now: clock.now });
    for (let second = 0; second < 5; second++) {
      for (let i = 0; i < 50; i++) hot.record('sale-a', 'abuser', '10.0.0.66');
      for (let u = 0; u < 20; u++) hot.record(u % 2 === 0 ? 'sale-a' : 'sale-b', `user-${u}`, `10.0.1.${u}`);
      clock.advance(1000);
    }
    const ranking = hot.ranking();
    expect(ranking.users[0]).toEqual({ key: 'abuser', rate: 50 });
    expect(ranking.users[1]).toEqual({ key: 'user-0', rate: 1 });
    expect(ranking.ips[0]).toEqual({ key: '10.0.0.66', rate: 50 });
    expect(ranking.sales).toEqual([
      { key: 'sale-a', rate: 60 },
      { key: 'sale-b', rate: 10 },
    ]);
    expect(ranking.users).toHaveLength(DEFAULT_HOT_SPOT_SETTINGS.top);
  });

  it('forgets what left the window', () => {
    const clock = manualClock();
    const hot = new HotSpots(settings({ slices: 3 }), { now: clock.now });
    for (let i = 0; i < 30; i++) hot.record(undefined, 'early', '10.0.0.1');
    clock.advance(1000);
    expect(hot.ranking().users).toEqual([{ key: 'early', rate: 30 }]);
    for (let second = 0; second < 4; second++) {
      hot.record(undefined, 'late', '10.0.0.2');
      clock.advance(1000);
    }
    expect(hot.ranking().users).toEqual([{ key: 'late', rate: 1 }]);
  });

  it('counts only sales the catalogue knows', () => {
    const clock = manualClock();
    const hot = new HotSpots(settings(), { now: clock.now, isSale: (id) => id === 'real' });
    hot.record('real', 'u', '10.0.0.1');
    hot.record('made-up', 'u', '10.0.0.1');
    clock.advance(1000);
    expect(hot.ranking().sales.map((s) => s.key)).toEqual(['real']);
  });

  it('stays within its memory bound while an attacker rotates through 100k IPs and users', () => {
    const clock = manualClock();
    const s = settings({ capacity: 256, slices: 10 });
    const hot = new HotSpots(s, { now: clock.now });
    for (let i = 0; i < 100_000; i++) {
      hot.record('sale', `bot-${i}`, `ip-${i}`);
      if (i % 3 === 0) hot.record('sale', 'abuser', '10.9.9.9');
      if (i % 10_000 === 0) clock.advance(1000);
    }
    expect(hot.size).toBeLessThanOrEqual(3 * (s.slices + 1) * s.capacity);
    clock.advance(1000);
    const ranking = hot.ranking();
    expect(ranking.users[0]?.key).toBe('abuser');
    expect(ranking.ips[0]?.key).toBe('10.9.9.9');
  });

  it('ranks the heaviest key first whatever the crowd, as a property', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 2, max: 20 }),
        fc.integer({ min: 8, max: 64 }),
        (crowdRates, times, capacity) => {
          const heaviest = Math.max(...crowdRates);
          const clock = manualClock();
          const hot = new HotSpots(settings({ capacity, slices: 3 }), { now: clock.now });
          for (let second = 0; second < 3; second++) {
            crowdRates.forEach((rate, u) => {
              for (let i = 0; i < rate; i++) hot.record(undefined, `u${u}`, '10.0.0.1');
            });
            for (let i = 0; i < heaviest * times * (1 + crowdRates.length / capacity); i++) hot.record(undefined, 'abuser', '10.0.0.2');
            clock.advance(1000);
          }
          expect(hot.ranking().users[0]?.key).toBe('abuser');
        },
      ),
      { numRuns: 60 },
    );
  });

  describe('throttling', () => {
    const crowdWithAbuser = (hot: HotSpots, clock: ReturnType<typeof manualClock>, seconds: number): void => {
      for (let second = 0; second < seconds; second++) {
        for (let u = 0; u < 200; u++) hot.record('sale', `user-${u}`, '10.0.0.1');
        for (let i = 0; i < 40; i++) hot.record('sale', 'abuser', '10.0.0.1');
        clock.advance(1000);
      }
    };

    it('refuses a user far above the crowd from the first check after the slice that shows it, and nobody else', () => {
      const clock = manualClock();
      const hot = new HotSpots(settings({}, { enabled: true, factor: 10, floorPerS: 5 }), { now: clock.now });
      crowdWithAbuser(hot, clock, 1);
      const verdict = hot.check('abuser', '10.0.0.1');
      expect(verdict).toMatchObject({ ok: false, code: 'RATE_LIMITED', retryAfterMs: 10_000 });
      for (let u = 0; u < 200; u++) expect(hot.check(`user-${u}`, '10.0.0.1')).toEqual({ ok: true });
    });

    it('refuses an address far above the other addresses', () => {
      const clock = manualClock();
      const hot = new HotSpots(settings({}, { enabled: true, factor: 10, floorPerS: 5 }), { now: clock.now });
      for (let second = 0; second < 2; second++) {
        for (let u = 0; u < 100; u++) hot.record(undefined, `user-${u}`, `10.0.1.${u}`);
        for (let i = 0; i < 30; i++) hot.record(undefined, `rotating-${second}-${i}`, '10.6.6.6');
        clock.advance(1000);
      }
      expect(hot.check('someone', '10.6.6.6').ok).toBe(false);
      expect(hot.check('someone', '10.0.1.1').ok).toBe(true);
    });

    it('throttles nobody below the floor, however uneven the crowd', () => {
      const clock = manualClock();
      const hot = new HotSpots(settings({}, { enabled: true, factor: 2, floorPerS: 100 }), { now: clock.now });
      crowdWithAbuser(hot, clock, 3);
      expect(hot.check('abuser', '10.0.0.1').ok).toBe(true);
    });

    it('throttles nobody in a crowd that is busy as a whole, past the floor', () => {
      const clock = manualClock();
      const hot = new HotSpots(settings({}, { enabled: true, factor: 10, floorPerS: 5 }), { now: clock.now });
      for (let second = 0; second < 3; second++) {
        for (let u = 0; u < 200; u++) for (let i = 0; i < 8 + (u % 5); i++) hot.record('sale', `user-${u}`, `10.0.1.${u}`);
        clock.advance(1000);
      }
      hot.record('sale', 'user-0', '10.0.1.0');
      for (let u = 0; u < 200; u++) expect(hot.check(`user-${u}`, `10.0.1.${u}`)).toEqual({ ok: true });
    });

    it('throttles nobody while off (the default), and still ranks', () => {
      const clock = manualClock();
      const hot = new HotSpots(settings(), { now: clock.now });
      crowdWithAbuser(hot, clock, 3);
      expect(hot.check('abuser', '10.0.0.1').ok).toBe(true);
      expect(hot.ranking().users[0]?.key).toBe('abuser');
    });

    it('lets a throttled user back in once its rate has left the window', () => {
      const clock = manualClock();
      const hot = new HotSpots(settings({ slices: 3 }, { enabled: true, factor: 10, floorPerS: 5 }), { now: clock.now });
      crowdWithAbuser(hot, clock, 3);
      expect(hot.check('abuser', '10.0.0.1').ok).toBe(false);
      for (let second = 0; second < 4; second++) {
        for (let u = 0; u < 200; u++) hot.record('sale', `user-${u}`, '10.0.0.1');
        hot.record('sale', 'abuser', '10.0.0.1');
        clock.advance(1000);
      }
      expect(hot.check('abuser', '10.0.0.1').ok).toBe(true);
    });
  });
});
