import { RecordedEvent, Subscription } from './event-store.port';

/** A wait for the next append: `promise` resolves on an append, a poll tick, or `cancel()` (which also frees it). */
export interface AppendWait {
  readonly promise: Promise<void>;
  cancel(): void;
}

export interface CatchUpSource {
  readAll(options: { after: number; maxCount: number }): Promise<RecordedEvent[]>;
  /** Resolves when something may have been appended (an in-process signal or a poll tick), or when cancelled. */
  waitForAppend(): AppendWait;
}

const PAGE = 1000;

/**
 * Reads pages of the total order after the last delivered position, then waits for more. Because it only ever
 * asks for "after the last position it delivered", it can neither skip nor repeat an event.
 */
export const catchUpSubscription = (source: CatchUpSource, after: number): Subscription => {
  let closed = false;
  /** Read through a call: `close()` may run while `next()` awaits, which TypeScript's narrowing cannot see. */
  const isClosed = (): boolean => closed;
  /** The wait in progress, cancelled by close() so that a waiting `next()` ends at once. */
  let current: AppendWait | undefined;
  let position = after;
  let buffer: RecordedEvent[] = [];
  let index = 0;

  const next = async (): Promise<IteratorResult<RecordedEvent>> => {
    while (!isClosed()) {
      if (index < buffer.length) {
        const event = buffer[index++] as RecordedEvent;
        position = event.position;
        return { value: event, done: false };
      }
      // Arm the wake-up BEFORE reading: an append that lands between the read and the wait must still wake us.
      const wait = source.waitForAppend();
      current = wait;
      try {
        buffer = await source.readAll({ after: position, maxCount: PAGE });
        index = 0;
        if (buffer.length === 0 && !isClosed()) await wait.promise;
      } finally {
        wait.cancel(); // releases the waiter (and its poll timer) when the read found events
        if (current === wait) current = undefined;
      }
    }
    return { value: undefined, done: true };
  };

  const close = (): void => {
    closed = true;
    current?.cancel();
  };

  return {
    close,
    [Symbol.asyncIterator]: () => ({
      next,
      return: async () => {
        close();
        return { value: undefined, done: true };
      },
    }),
  };
};

/**
 * A one-shot signal, re-armed after every append: wakes every subscriber waiting for new events. Plain callbacks
 * rather than AbortSignals: it fires after every group commit, for every follower, and an AbortController per wait
 * (with the DOMException its abort creates) was a measurable share of the append path.
 */
export class AppendSignal {
  private waiters = new Set<() => void>();

  notify(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  wait(pollMs?: number): AppendWait {
    let done!: () => void;
    const promise = new Promise<void>((resolve) => {
      const timers: { poll?: NodeJS.Timeout } = {};
      done = (): void => {
        this.waiters.delete(done);
        if (timers.poll) clearTimeout(timers.poll);
        resolve();
      };
      if (pollMs !== undefined) timers.poll = setTimeout(done, pollMs);
      this.waiters.add(done);
    });
    return { promise, cancel: done };
  }
}
