import { EventStore } from './event-store.port';

/** Where counting stops on a sparse store: a lag gauge needs "how far behind", not an exact count in the millions. */
export const EVENTS_BEHIND_CAP = 10_000;

const PAGE = 1000;

/**
 * How many events lie after `position` up to `head` (inclusive): what "lag in events" means. On a store whose positions
 * are dense (1, 2, 3, …) it is the subtraction; on any other (EventStoreDB: log offsets) the difference of two
 * positions is bytes, not events, so they are counted by reading, up to `cap` (then the answer is `cap`: at least).
 */
export const eventsBehind = async (
  store: Pick<EventStore, 'readAll'> & { readonly densePositions?: boolean },
  position: number,
  head: number,
  cap = EVENTS_BEHIND_CAP,
): Promise<number> => {
  if (head <= position) return 0;
  if (store.densePositions === true) return head - position;
  let count = 0;
  let after = position;
  while (count < cap) {
    const want = Math.min(PAGE, cap - count);
    const page = await store.readAll({ after, maxCount: want });
    const within = page.filter((e) => e.position <= head);
    count += within.length;
    const last = within.at(-1);
    // A short page: the head (or the end of the log) is reached.
    if (last === undefined || within.length < want) break;
    after = last.position;
  }
  return Math.min(count, cap);
};

/**
 * eventsBehind for followers asked about often (a readiness probe, a metrics scrape), by name: on a sparse store a
 * count reads up to EVENTS_BEHIND_CAP events, so each follower's count is shared by every concurrent asker and reused
 * for `maxAgeMs` — a lag figure a few seconds old, rather than thousands of events read on the api's event loop at every
 * probe. On a dense store it is a subtraction, always fresh.
 */
export class LagCounters {
  private readonly last = new Map<string, { readonly at: number; readonly value: number }>();
  private readonly counting = new Map<string, Promise<number>>();

  constructor(
    private readonly store: Pick<EventStore, 'readAll'> & { readonly densePositions?: boolean },
    private readonly maxAgeMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  count(follower: string, position: number, head: number): Promise<number> {
    if (head <= position) return Promise.resolve(0);
    if (this.store.densePositions === true) return Promise.resolve(head - position);
    const last = this.last.get(follower);
    if (last !== undefined && this.now() - last.at < this.maxAgeMs) return Promise.resolve(last.value);
    let counting = this.counting.get(follower);
    if (counting === undefined) {
      counting = eventsBehind(this.store, position, head)
        .then((value) => {
          this.last.set(follower, { at: this.now(), value });
          return value;
        })
        .finally(() => this.counting.delete(follower));
      this.counting.set(follower, counting);
    }
    return counting;
  }
}
