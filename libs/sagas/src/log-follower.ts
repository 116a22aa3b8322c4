import { isEventType } from '@flash/domain';
import { decodeEvent, EventLoopSlices, EventStore, Subscription } from '@flash/event-store';
import { Logger } from 'pino';
import { CheckpointStore, FencedOff } from './ports';
import { LogProcess } from './processes/log-process';

/** Where a follower stands: what /health/ready and /metrics report, whichever process runs it. */
export interface FollowerStatus {
  readonly position: number;
  readonly checkpoint: number;
  readonly caughtUp: boolean;
  readonly processes: Readonly<Record<string, { readonly backlog: number; readonly overdueMs: number }>>;
}

export interface LogFollowerOptions {
  readonly name: string;
  readonly tickIntervalMs: number;
  readonly now: () => number;
  /** The fence of the job lease this follower runs under (a worker among several); its checkpoints carry it. */
  readonly fence?: number;
}

/**
 * Feeds the sagas from one catch-up subscription on the global log and runs their due work on a timer. Delivery is
 * at-least-once: the checkpoint is the lowest position any process still needs, so after a crash the log is replayed
 * from there and pending work is rebuilt; every effect is idempotent (the deciders recognise what already happened).
 */
export class LogFollower {
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private position = 0;
  private head = 0;
  private caughtUp = false;
  private ticking: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: EventStore,
    private readonly checkpoints: CheckpointStore,
    private readonly processes: readonly LogProcess[],
    private readonly logger: Logger,
    private readonly options: LogFollowerOptions,
  ) {}

  async start(): Promise<void> {
    this.position = this.checkpoints.load(this.options.name);
    this.head = await this.store.headPosition();
    this.caughtUp = this.position >= this.head;
    this.logger.info({ follower: this.options.name, from: this.position, head: this.head }, 'sagas following the log');
    this.subscription = this.store.subscribeToAll(this.position);
    void this.follow(this.subscription);
    this.timer = setInterval(() => void this.tick(), this.options.tickIntervalMs);
    this.timer.unref();
  }

  private async follow(subscription: Subscription): Promise<void> {
    // A replay from an old checkpoint (or from 0) in slices: the process answers requests meanwhile.
    const slices = new EventLoopSlices();
    try {
      for await (const recorded of subscription) {
        if (slices.due()) {
          if (!this.caughtUp) await this.tickWhileReplaying();
          await slices.yield();
        }
        if (isEventType(recorded.type)) {
          const event = decodeEvent(recorded);
          for (const p of this.processes) p.apply(event, recorded.position);
        }
        this.position = recorded.position;
        if (!this.caughtUp && this.position >= this.head) {
          this.caughtUp = true;
          this.logger.info({ position: this.position }, 'sagas caught up');
        }
      }
    } catch (error) {
      this.logger.error({ err: error }, 'saga subscription failed');
    }
  }

  /**
   * During the replay, between slices: the work of the processes that may do it before the replay ends (gate sync:
   * a release the log has recorded is right at any moment), so their backlog stays one slice's worth instead of
   * growing with the history replayed. The others wait for `tick`, once caught up.
   */
  private async tickWhileReplaying(): Promise<void> {
    if (this.stopped) return;
    const now = this.options.now();
    for (const p of this.processes) if (p.worksWhileReplaying === true) await p.tick(now);
  }

  /** Runs due work once (also called directly by tests with a fake clock). Waits until the replay has caught up. */
  tick(): Promise<void> {
    if (!this.caughtUp || this.stopped) return Promise.resolve();
    this.ticking ??= this.runTick().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    const now = this.options.now();
    for (const p of this.processes) await p.tick(now);
    this.saveCheckpoint();
  }

  /** The last position whose effects need no replay: just before the oldest pending work, else all applied. */
  checkpoint(): number {
    let checkpoint = this.position;
    for (const p of this.processes) {
      const low = p.lowWater();
      if (low !== undefined) checkpoint = Math.min(checkpoint, low - 1);
    }
    return checkpoint;
  }

  /** Resolves once everything appended so far has been applied by the processes. */
  async waitForPosition(position: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.position < position) {
      if (Date.now() > deadline) throw new Error(`sagas did not reach position ${position} (at ${this.position})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  status(now: number): FollowerStatus {
    return {
      position: this.position,
      checkpoint: this.checkpoint(),
      caughtUp: this.caughtUp,
      processes: Object.fromEntries(this.processes.map((p) => [p.name, p.status(now)])),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.subscription?.close();
    await this.ticking;
    this.saveCheckpoint();
  }

  /** A deposed follower (FencedOff) stops at once: its successor owns the checkpoint and the work from here. */
  private saveCheckpoint(): void {
    try {
      this.checkpoints.save(this.options.name, this.checkpoint(), this.options.fence ?? 0);
    } catch (error) {
      if (!(error instanceof FencedOff)) throw error;
      this.logger.warn({ fence: this.options.fence, err: error }, 'a later holder of the sagas has written: this follower stops');
      this.stopped = true;
      if (this.timer) clearInterval(this.timer);
      this.subscription?.close();
    }
  }
}
