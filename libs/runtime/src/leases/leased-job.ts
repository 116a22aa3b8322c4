import type { Logger } from 'pino';
import { Lease, LeaseStore } from './lease-store';

/** The call's answer, or undefined when it has not come within `ms` (a lease call unanswered counts as not made). */
export const answeredWithin = <T>(call: Promise<T>, ms: number): Promise<T | undefined> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
};

/**
 * The rhythm every lease holder keeps: it asks or renews every third of the lease, and acts only until a fifth of the
 * lease before the lease can have run out — counted from when its last renewal was *sent* (never later than the store
 * counted it), so a holder cut off stops before anyone else can take over.
 */
export class LeaseRhythm {
  /** How often a holder renews and a standby asks. */
  readonly pacingMs: number;
  /** How long before the lease's end a holder stops acting: room for stopping its work. */
  readonly marginMs: number;

  constructor(
    readonly ttlMs: number,
    readonly now: () => number = Date.now,
  ) {
    this.marginMs = Math.max(50, Math.floor(ttlMs / 5));
    this.pacingMs = Math.max(10, Math.floor(ttlMs / 3));
  }

  /** Until when a holder may act on a lease whose last renewal was sent at `sentAt`. */
  actUntil(sentAt: number): number {
    return sentAt + this.ttlMs - this.marginMs;
  }
}

/** What a job does while its lease is held: begun with the lease's fence, stopped when the lease is lost or given up. */
export interface LeasedWork {
  stop(): Promise<void>;
}

export interface LeasedJobOptions {
  /** WORKER_LEASE_MS: how long a lease lasts unless renewed; a standby takes over within this of a holder's death. */
  readonly ttlMs: number;
  readonly now?: () => number;
}

/**
 * Runs one job in exactly one process at a time: every process that may run it holds a LeasedJob, and the one that
 * holds the lease runs it. The holder renews every third of the lease; a standby tries to take it at the same pace.
 *
 * A holder that cannot renew stops acting on its own before the lease can have run out anywhere: the lease is counted
 * from the moment the last successful renewal was *sent* (never later than the store counted it), less a margin for
 * stopping. So by the time a standby can take the job, and write with a higher fence, the old holder has stopped
 * writing; the fence is the guard for what that reasoning does not cover (a process paused past its own watchdog).
 */
export class LeasedJob {
  private lease: Lease | undefined;
  private work: Promise<LeasedWork | undefined> | undefined;
  private round: Promise<void> | undefined;
  /** An acquire sent and not answered yet. */
  private asking = false;
  private pacer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly rhythm: LeaseRhythm;

  constructor(
    private readonly leases: LeaseStore,
    readonly job: string,
    private readonly holder: string,
    private readonly begin: (fence: number) => Promise<LeasedWork>,
    private readonly logger: Logger,
    private readonly options: LeasedJobOptions,
  ) {
    this.rhythm = new LeaseRhythm(options.ttlMs, options.now);
  }

  /** Whether this process runs the job now. */
  get leading(): boolean {
    return this.lease !== undefined;
  }

  get fence(): number | undefined {
    return this.lease?.fence;
  }

  /**
   * Tries once at once, and waits for the job's start when it got the lease (so a lone process runs its jobs before it
   * says it is running); then keeps trying, or renewing.
   */
  async start(): Promise<void> {
    await this.step();
    await this.work;
    this.pacer = setInterval(() => void this.step(), this.rhythm.pacingMs);
    this.pacer.unref();
  }

  /** One round: take the lease when free, or renew the one held. Rounds never overlap. */
  step(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.round ??= this.takeOrRenew().finally(() => (this.round = undefined));
    return this.round;
  }

  /** A store call that has not answered within a pacing interval counts as unanswered: the next round asks again. */
  private within<T>(call: Promise<T>): Promise<T | undefined> {
    return answeredWithin(call, this.rhythm.pacingMs);
  }

  private async takeOrRenew(): Promise<void> {
    const sentAt = this.rhythm.now();
    if (this.lease === undefined) {
      // One acquire at a time: a late grant given back below could otherwise be the very grant a later round has just
      // taken (the same holder is granted the same fence), leaving the job free in the store while it runs here.
      if (this.asking) return;
      this.asking = true;
      const asked = this.leases.acquire(this.job, this.holder, this.options.ttlMs);
      void asked.catch(() => undefined).finally(() => (this.asking = false));
      const lease = await this.within(asked).catch((error: unknown) => {
        this.logger.warn({ err: error, job: this.job }, 'could not ask for the job lease');
        return undefined;
      });
      if (lease === undefined) {
        // A late answer may still have granted it: give such a lease back rather than leave it to run out.
        void asked.then((late) => (late !== undefined && this.lease?.fence !== late.fence ? this.leases.release(late) : undefined)).catch(() => undefined);
        return;
      }
      if (this.stopped) {
        await this.leases.release(lease).catch(() => undefined);
        return;
      }
      this.lease = lease;
      this.arm(sentAt);
      this.logger.info({ job: this.job, fence: lease.fence }, 'job lease taken: running the job');
      // Not awaited: a start that takes a while (catching up with the log) must not hold up the renewals.
      this.work = this.begin(lease.fence).catch((error: unknown) => {
        this.logger.error({ err: error, job: this.job }, 'the job failed to start; giving its lease up');
        void this.lose('start failed', true);
        return undefined;
      });
      return;
    }
    const renewed = await this.within(this.leases.renew(this.lease, this.options.ttlMs)).catch((error: unknown) => {
      this.logger.warn({ err: error, job: this.job }, 'could not renew the job lease');
      return undefined;
    });
    if (renewed === true) this.arm(sentAt);
    // Unreachable (undefined): keep trying until the watchdog says the lease may be over. Refused: it is over.
    else if (renewed === false) await this.lose('lease lost to another holder', false);
  }

  /** The lease held as of `sentAt`: stop acting a margin before it can have run out, unless renewed before. */
  private arm(sentAt: number): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    const deadline = this.rhythm.actUntil(sentAt);
    this.watchdog = setTimeout(() => void this.lose('lease not renewed in time', false), Math.max(0, deadline - this.rhythm.now()));
    this.watchdog.unref();
  }

  private async lose(why: string, release: boolean): Promise<void> {
    const lease = this.lease;
    if (lease === undefined) return;
    this.lease = undefined;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.logger.warn({ job: this.job, fence: lease.fence, why }, 'job lease lost: the job stops here');
    const work = await this.work;
    this.work = undefined;
    await work?.stop().catch((error: unknown) => this.logger.warn({ err: error, job: this.job }, 'the job did not stop cleanly'));
    if (release) await this.leases.release(lease).catch(() => undefined);
  }

  /** Stops the job if it runs here and gives its lease up, so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pacer) clearInterval(this.pacer);
    await this.round;
    const lease = this.lease;
    if (lease === undefined) return;
    this.lease = undefined;
    if (this.watchdog) clearTimeout(this.watchdog);
    const work = await this.work;
    this.work = undefined;
    await work?.stop();
    await this.leases.release(lease).catch((error: unknown) => this.logger.warn({ err: error, job: this.job }, 'could not give the job lease up'));
    this.logger.info({ job: this.job, fence: lease.fence }, 'job lease given up');
  }
}
