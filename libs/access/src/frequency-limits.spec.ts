import { FrequencyLimits, FrequencyLimitSettings, FrequencyVerdict } from './frequency-limits';

// rate-limiter-flexible reads Date.now() and sets timers itself: the fake clock is Jest's.
beforeEach(() => jest.useFakeTimers({ now: 1_900_000_000_000 }));
afterEach(() => jest.useRealTimers());

const settings = (overrides: Partial<FrequencyLimitSettings> = {}): FrequencyLimitSettings => ({
  enabled: true,
  perUser: { points: 3, durationS: 1 },
  perIp: { points: 5, durationS: 1 },
  admission: { points: 8, durationS: 1 },
  ...overrides,
});

const attempts = async (limits: FrequencyLimits, n: number, attempt: (i: number) => { ip: string; userId: string }): Promise<FrequencyVerdict[]> => {
  const verdicts: FrequencyVerdict[] = [];
  for (let i = 0; i < n; i++) verdicts.push(await limits.check(attempt(i)));
  return verdicts;
};

const admittedCount = (verdicts: FrequencyVerdict[]): number => verdicts.filter((v) => v.ok).length;

describe('FrequencyLimits', () => {
  it('admits a user up to their limit in a window, then refuses with RATE_LIMITED and when to retry', async () => {
    const limits = new FrequencyLimits(settings());
    const verdicts = await attempts(limits, 5, () => ({ ip: '10.0.0.1', userId: 'u1' }));
    expect(admittedCount(verdicts)).toBe(3);
    const refused = verdicts[3]!;
    expect(refused).toEqual({ ok: false, code: 'RATE_LIMITED', retryAfterMs: 1000, reason: expect.stringContaining('account') });
  });

  it('admits the user again once the window has passed', async () => {
    const limits = new FrequencyLimits(settings());
    await attempts(limits, 4, () => ({ ip: '10.0.0.1', userId: 'u1' }));
    jest.advanceTimersByTime(400);
    const during = await limits.check({ ip: '10.0.0.1', userId: 'u1' });
    expect(during).toMatchObject({ ok: false, retryAfterMs: 600 });
    jest.advanceTimersByTime(600);
    expect(await limits.check({ ip: '10.0.0.1', userId: 'u1' })).toEqual({ ok: true });
  });

  it('limits an address across the users behind it', async () => {
    const limits = new FrequencyLimits(settings());
    const verdicts = await attempts(limits, 7, (i) => ({ ip: '10.0.0.1', userId: `u${i}` }));
    expect(admittedCount(verdicts)).toBe(5);
    expect(verdicts[5]).toMatchObject({ ok: false, code: 'RATE_LIMITED', reason: expect.stringContaining('address') });
    expect(await limits.check({ ip: '10.0.0.2', userId: 'someone-else' })).toEqual({ ok: true });
  });

  it('caps admission into the funnel per instance, whoever asks', async () => {
    const limits = new FrequencyLimits(settings());
    const verdicts = await attempts(limits, 10, (i) => ({ ip: `10.0.0.${i}`, userId: `u${i}` }));
    expect(admittedCount(verdicts)).toBe(8);
    expect(verdicts[8]).toMatchObject({ ok: false, code: 'RATE_LIMITED', reason: expect.stringContaining('entering') });
  });

  it('does not spend the address or admission budget on a user already over their own limit', async () => {
    const limits = new FrequencyLimits(settings({ perIp: { points: 4, durationS: 1 } }));
    await attempts(limits, 10, () => ({ ip: '10.0.0.1', userId: 'greedy' }));
    expect(await limits.check({ ip: '10.0.0.1', userId: 'polite' })).toEqual({ ok: true });
  });

  it('tightens every limit by a factor and restores them with factor 1', async () => {
    const limits = new FrequencyLimits(settings());
    limits.tighten(3);
    expect(limits.tighteningFactor).toBe(3);
    expect(admittedCount(await attempts(limits, 3, () => ({ ip: '10.0.0.1', userId: 'u1' })))).toBe(1);
    expect(admittedCount(await attempts(limits, 5, (i) => ({ ip: '10.0.0.2', userId: `v${i}` })))).toBe(1);
    limits.tighten(1);
    jest.advanceTimersByTime(1000);
    expect(admittedCount(await attempts(limits, 5, () => ({ ip: '10.0.0.3', userId: 'u1' })))).toBe(3);
  });

  it('keeps what was spent in the window when tightening mid-window', async () => {
    const limits = new FrequencyLimits(settings());
    await attempts(limits, 2, () => ({ ip: '10.0.0.1', userId: 'u1' }));
    limits.tighten(2);
    expect(await limits.check({ ip: '10.0.0.1', userId: 'u1' })).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
  });

  it('never tightens to zero points', async () => {
    const limits = new FrequencyLimits(settings());
    limits.tighten(100);
    expect(await limits.check({ ip: '10.0.0.1', userId: 'u1' })).toEqual({ ok: true });
  });

  it('refuses a factor below 1', () => {
    expect(() => new FrequencyLimits(settings()).tighten(0.5)).toThrow(RangeError);
  });

  it('admits everything when switched off (ACCESS_LIMITS=off), tightened or not', async () => {
    const limits = new FrequencyLimits(settings({ enabled: false }));
    limits.tighten(4);
    expect(limits.enabled).toBe(false);
    expect(admittedCount(await attempts(limits, 50, () => ({ ip: '10.0.0.1', userId: 'u1' })))).toBe(50);
  });
});
