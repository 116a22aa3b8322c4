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
 *
 * A read that returns less than a page has reached the head: the next one waits for the wake-up armed before it
 * (which has already fired if anything was appended since), instead of asking again at once and finding nothing.
 * Measured on PostgreSQL under load, those empty reads were 2.7 of every 3.7 a follower made.
 */
export const catchUpSubscription = (source: CatchUpSource, after: number): Subscription => {
  let closed = false;
  /** Read through a call: `close()` may run while `next()` awaits, which TypeScript's narrowing cannot see. */
  const isClosed = (): boolean => closed;
  /** The wait in progress, cancelled by close() so that a waiting `next()` ends at once. */
  let current: AppendWait | undefined;
  /** Armed before the last read, which reached the head: the next read waits for it. */
  let atHead: AppendWait | undefined;
  let position = after;
  let buffer: RecordedEvent[] = [];
  let index = 0;

  const waitFor = async (wait: AppendWait): Promise<void> => {
    current = wait;
    try {
      await wait.promise;
    } finally {
      wait.cancel(); // frees the waiter and its poll timer
      if (current === wait) current = undefined;
    }
  };

  const next = async (): Promise<IteratorResult<RecordedEvent>> => {
    while (!isClosed()) {
      if (index < buffer.length) {
        const event = buffer[index++] as RecordedEvent;
        position = event.position;
        return { value: event, done: false };
      }
      if (atHead !== undefined) {
        const armed = atHead;
        atHead = undefined;
        await waitFor(armed);
        if (isClosed()) break;
      }
      // Arm the wake-up BEFORE reading: an append that lands between the read and the wait must still wake us.
      const wait = source.waitForAppend();
      current = wait;
      try {
        buffer = await source.readAll({ after: position, maxCount: PAGE });
        index = 0;
      } catch (error) {
        wait.cancel();
        throw error;
      } finally {
        if (current === wait) current = undefined;
      }
      if (buffer.length === 0) await waitFor(wait);
      else if (buffer.length < PAGE) atHead = wait;
      else wait.cancel(); // a full page: more may be there already
    }
    return { value: undefined, done: true };
  };

  const close = (): void => {
    closed = true;
    current?.cancel();
    atHead?.cancel();
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
