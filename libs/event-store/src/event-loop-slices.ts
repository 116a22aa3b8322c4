/**
 * For a loop that replays the log: a store that hands pages over at once (SQLite reads are synchronous) keeps such a
 * loop on the event loop as one unbroken chain of promise callbacks, and nothing else runs — not /health/live, not a
 * purchase — until the whole replay is done. The loop asks `due()` after each event (cheap: the clock is read every
 * `checkEvery` events) and, when its slice is spent, awaits `yield()`, which lets timers and I/O run once.
 */
export class EventLoopSlices {
  private sliceStarted = performance.now();
  private events = 0;

  constructor(
    private readonly sliceMs = 20,
    private readonly checkEvery = 256,
  ) {}

  due(): boolean {
    return ++this.events % this.checkEvery === 0 && performance.now() - this.sliceStarted > this.sliceMs;
  }

  async yield(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.sliceStarted = performance.now();
  }
}
