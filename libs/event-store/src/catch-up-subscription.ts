import { RecordedEvent, Subscription } from './event-store.port';

export interface CatchUpSource {
  readAll(options: { after: number; maxCount: number }): Promise<RecordedEvent[]>;
  /** Resolves when something may have been appended (an in-process signal or a poll tick), or on close. */
  waitForAppend(signal: AbortSignal): Promise<void>;
}

const PAGE = 1000;

/**
 * Reads pages of the total order after the last delivered position, then waits for more. Because it only ever
 * asks for "after the last position it delivered", it can neither skip nor repeat an event.
 */
export const catchUpSubscription = (source: CatchUpSource, after: number): Subscription => {
  const abort = new AbortController();
  let position = after;
  let buffer: RecordedEvent[] = [];
  let index = 0;

  const next = async (): Promise<IteratorResult<RecordedEvent>> => {
    while (!abort.signal.aborted) {
      if (index < buffer.length) {
        const event = buffer[index++] as RecordedEvent;
        position = event.position;
        return { value: event, done: false };
      }
      // Arm the wake-up BEFORE reading: an append that lands between the read and the wait must still wake us.
      const wait = new AbortController();
      const stop = (): void => {
        wait.abort();
      };
      abort.signal.addEventListener('abort', stop, { once: true });
      const woken = source.waitForAppend(wait.signal);
      try {
        buffer = await source.readAll({ after: position, maxCount: PAGE });
        index = 0;
        if (buffer.length === 0) await woken;
      } finally {
        abort.signal.removeEventListener('abort', stop);
        wait.abort(); // releases the waiter (and its poll timer) when the read found events
      }
    }
    return { value: undefined, done: true };
  };

  return {
    close: () => abort.abort(),
    [Symbol.asyncIterator]: () => ({
      next,
      return: async () => {
        abort.abort();
        return { value: undefined, done: true };
      },
    }),
  };
};

/** A one-shot signal, re-armed after every append: wakes every subscriber waiting for new events. */
export class AppendSignal {
  private waiters = new Set<() => void>();

  notify(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  wait(signal: AbortSignal, pollMs?: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        if (timer) clearTimeout(timer);
        resolve();
      };
      const timer = pollMs === undefined ? undefined : setTimeout(done, pollMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
