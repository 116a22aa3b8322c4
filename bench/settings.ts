/** How long and how big each row runs, per mode. */
export interface ModeSettings {
  readonly name: 'full' | 'quick' | 'smoke';
  readonly warmupSeconds: number;
  readonly timedSeconds: number;
  /** In-flight requests of the closed-loop rows (1, 2, 3, 7). */
  readonly connections: number;
  /** The filter row cycles over this many buyers: more than the server's JWT cache (10k), so every token is verified. */
  readonly filterBuyers: number;
  /** Bearer tokens signed before any window; beyond the pool they are signed on the load generator's core. */
  readonly presignedBuyers: number;
  readonly replayEvents: number;
  /** Longest wait for other work on the machine to stop before a window (0 in smoke mode, which runs inside npm test). */
  readonly quietWaitSeconds: number;
  /** Row 9: the generated log the api starts on, how long to wait for ready, and how long to keep watching after it. */
  readonly restart: { readonly events: number; readonly capSeconds: number; readonly afterReadySeconds: number };
  readonly scale?: { readonly buyers: number; readonly stock: number; readonly shards: number; readonly capSeconds: number };
}

export const MODES: Readonly<Record<ModeSettings['name'], ModeSettings>> = {
  full: {
    name: 'full',
    warmupSeconds: 2,
    timedSeconds: 10,
    connections: 128,
    filterBuyers: 50_000,
    presignedBuyers: 150_000,
    replayEvents: 1_000_000,
    quietWaitSeconds: 300,
    restart: { events: 1_000_000, capSeconds: 300, afterReadySeconds: 5 },
    scale: { buyers: 1_000_000, stock: 100_000, shards: 64, capSeconds: 600 },
  },
  quick: {
    name: 'quick',
    warmupSeconds: 1,
    timedSeconds: 3,
    connections: 128,
    filterBuyers: 20_000,
    presignedBuyers: 40_000,
    replayEvents: 100_000,
    quietWaitSeconds: 30,
    restart: { events: 100_000, capSeconds: 120, afterReadySeconds: 3 },
    scale: { buyers: 20_000, stock: 2_000, shards: 64, capSeconds: 30 },
  },
  smoke: {
    name: 'smoke',
    warmupSeconds: 0.5,
    timedSeconds: 1,
    connections: 32,
    filterBuyers: 2_000,
    presignedBuyers: 5_000,
    replayEvents: 10_000,
    quietWaitSeconds: 0,
    restart: { events: 10_000, capSeconds: 60, afterReadySeconds: 1 },
    // A small scale row, so that npm test runs its code (both runs, the Redis reference, the joined stretches).
    scale: { buyers: 2_000, stock: 200, shards: 64, capSeconds: 30 },
  },
};

/** Fraction of row 2's measured peak that row 5 offers at a constant rate. */
export const LATENCY_LOAD_FRACTION = 0.7;

/**
 * How the engine is deployed for every row: its V8 heap sized as in a container (the README's deployment guidance)
 * rather than left at Node's default of a quarter of this machine's 24 GiB. Without a limit V8 collects lazily and
 * the process keeps twice its live data resident; with it, garbage is collected before the heap grows past the cap.
 */
export const ENGINE_NODE_OPTIONS = '--max-old-space-size=256';
