import { AdmissionRate, DEFAULT_BACKEND_LIMITS, MIN_RATE_SHARE } from './admission-rate';

const healthy = { eventLoopDelayMs: 5, appendLatencyMs: 2, sagaBacklog: 0 };
const middling = { eventLoopDelayMs: 70, appendLatencyMs: 2, sagaBacklog: 0 };

describe('AdmissionRate: the rate follows the back end', () => {
  it('admits at the configured rate while the back end is healthy', () => {
    const rate = new AdmissionRate();
    rate.step(healthy);
    expect(rate.rateFor(200)).toBe(200);
  });

  it.each([
    ['event-loop delay', { ...healthy, eventLoopDelayMs: DEFAULT_BACKEND_LIMITS.eventLoopDelayMs + 1 }],
    ['append latency', { ...healthy, appendLatencyMs: DEFAULT_BACKEND_LIMITS.appendLatencyMs + 1 }],
    ['saga backlog', { ...healthy, sagaBacklog: DEFAULT_BACKEND_LIMITS.sagaBacklog + 1 }],
  ])('halves the rate while the %s is above its limit, down to the floor', (_signal, stressed) => {
    const rate = new AdmissionRate();
    expect(rate.step(stressed)).toBe(0.5);
    expect(rate.rateFor(200)).toBe(100);
    expect(rate.step(stressed)).toBe(0.25);
    for (let i = 0; i < 10; i++) rate.step(stressed);
    expect(rate.share).toBe(MIN_RATE_SHARE);
    expect(rate.rateFor(200)).toBeCloseTo(20);
  });

  it('holds between half the limit and the limit, then climbs back by a tenth per healthy step', () => {
    const rate = new AdmissionRate();
    rate.step({ ...healthy, sagaBacklog: DEFAULT_BACKEND_LIMITS.sagaBacklog * 2 });
    expect(rate.step(middling)).toBe(0.5);
    expect(rate.step(healthy)).toBeCloseTo(0.6);
    for (let i = 0; i < 10; i++) rate.step(healthy);
    expect(rate.share).toBe(1);
  });

  it('never admits less than one a second', () => {
    const rate = new AdmissionRate();
    for (let i = 0; i < 5; i++) rate.step({ ...healthy, eventLoopDelayMs: 1000 });
    expect(rate.rateFor(3)).toBe(1);
  });

  it('keeps the configured rate when adaptation is off', () => {
    const rate = new AdmissionRate(DEFAULT_BACKEND_LIMITS, false);
    rate.step({ ...healthy, eventLoopDelayMs: 1000 });
    expect(rate.rateFor(200)).toBe(200);
  });
});
