/** The Clock port: time comes in from here, so expiry and sagas can run on a fake clock in tests. */
export interface Clock {
  now(): number;
}
export const CLOCK = Symbol('CLOCK');
export const systemClock: Clock = { now: () => Date.now() };
