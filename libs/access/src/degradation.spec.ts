import { Degradation, DegradationLevel, InMemoryDegradationState, isDegradationLevel, Tightenable } from './degradation';

class RecordedTightening implements Tightenable {
  readonly factors: number[] = [];
  tighten(factor: number): void {
    this.factors.push(factor);
  }
}

/** Plays the given numbers in a loop, as the "random" source. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

const setUp = (level: DegradationLevel = 0, random = sequence(0.99)) => {
  const state = new InMemoryDegradationState(level);
  const limits = new RecordedTightening();
  const degradation = new Degradation(state, { dropShare: 0.5, tightenFactor: 2, retryAfterMs: 800 }, { random, limits });
  return { state, limits, degradation };
};

describe('Degradation', () => {
  it('level 0 admits every purchase step and leaves the limits as they are', () => {
    const { degradation, limits } = setUp(0, sequence(0));
    expect(degradation.check('access')).toEqual({ ok: true });
    expect(degradation.check('reservation')).toEqual({ ok: true });
    expect(limits.factors).toEqual([1]);
  });

  it('level 1 tightens the entry limits and drops nothing', async () => {
    const { degradation, limits } = setUp(0, sequence(0));
    await degradation.setLevel(1);
    expect(limits.factors).toEqual([1, 2]);
    expect(degradation.check('access')).toEqual({ ok: true });
    expect(degradation.check('reservation')).toEqual({ ok: true });
  });

  it('level 2 drops the requests whose draw falls under the share, with DEGRADED and when to retry', async () => {
    const { degradation } = setUp(0, sequence(0.1, 0.7, 0.49, 0.5));
    await degradation.setLevel(2);
    expect(degradation.check('reservation')).toEqual({ ok: false, code: 'DEGRADED', retryAfterMs: 800, reason: expect.any(String) });
    expect(degradation.check('reservation')).toEqual({ ok: true });
    expect(degradation.check('access').ok).toBe(false);
    expect(degradation.check('access')).toEqual({ ok: true });
  });

  it('level 2 drops about the configured share of many requests', () => {
    let seed = 42;
    const lcg = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const { degradation } = setUp(2, lcg);
    const dropped = Array.from({ length: 10_000 }, () => degradation.check('reservation')).filter((v) => !v.ok).length;
    expect(dropped).toBeGreaterThan(4_700);
    expect(dropped).toBeLessThan(5_300);
  });

  it('level 3 refuses new access but lets a purchase through to the token check', async () => {
    const { degradation, limits } = setUp(0, sequence(0));
    await degradation.setLevel(3);
    expect(degradation.check('access')).toEqual({ ok: false, code: 'DEGRADED', retryAfterMs: 800, reason: expect.stringContaining('no new buyers') });
    expect(degradation.check('reservation')).toEqual({ ok: true });
    expect(limits.factors).toEqual([1, 2]);
  });

  it('back to level 0 restores normal service and the limits', async () => {
    const { degradation, limits } = setUp(2, sequence(0));
    await degradation.setLevel(0);
    expect(degradation.level()).toBe(0);
    expect(degradation.check('reservation')).toEqual({ ok: true });
    expect(limits.factors).toEqual([2, 1]);
  });

  it('follows a level changed elsewhere through the shared state', async () => {
    const { state, degradation, limits } = setUp(0, sequence(0));
    await state.set(3);
    expect(degradation.check('access').ok).toBe(false);
    expect(limits.factors).toEqual([1, 2]);
  });

  it('refuses settings out of range', () => {
    const state = new InMemoryDegradationState();
    expect(() => new Degradation(state, { dropShare: 1.5 }, { random: Math.random })).toThrow(RangeError);
    expect(() => new Degradation(state, { tightenFactor: 0 }, { random: Math.random })).toThrow(RangeError);
  });
});

describe('InMemoryDegradationState', () => {
  it('tells listeners about changes only, until they unsubscribe', async () => {
    const state = new InMemoryDegradationState();
    const seen: DegradationLevel[] = [];
    const unsubscribe = state.onChange((l) => seen.push(l));
    await state.set(2);
    await state.set(2);
    await state.set(0);
    unsubscribe();
    await state.set(1);
    expect(seen).toEqual([2, 0]);
    expect(state.current()).toBe(1);
  });

  it('refuses a level that does not exist', async () => {
    await expect(new InMemoryDegradationState().set(4 as DegradationLevel)).rejects.toThrow(RangeError);
    expect([0, 1, 2, 3, 4, '1', null].map(isDegradationLevel)).toEqual([true, true, true, true, false, false, false]);
  });
});
