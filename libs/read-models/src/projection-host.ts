import { EventStore } from '@flash/event-store';
import { DocumentStore } from './document-store';
import { physicalCollection, Projection } from './projection';
import { CHECKPOINT_COLLECTION, checkpointId, ProjectionProgress, ProjectionRunner, ProjectionRunnerOptions } from './projection-runner';

/** One document per projection: which generation (blue/green copy) queries read. */
export const POINTER_COLLECTION = 'projections';

export interface ProjectionHostOptions {
  readonly batchSize: number;
  readonly idleMs: number;
  readonly now: () => number;
  /** How often to look for a switch made by another process (the projections CLI). */
  readonly pointerPollMs: number;
  /** How long an old generation stays readable after a switch, for queries that started before it. */
  readonly dropAfterMs: number;
  readonly onBatch?: (progress: ProjectionProgress) => void;
  readonly onError?: (error: unknown) => void;
  readonly onSwitch?: (from: number, to: number) => void;
  /** See ProjectionRunnerOptions.pace: applies to the live runner, not to a rebuild's catch-up. */
  readonly pace?: () => number;
  /** See ProjectionRunnerOptions.followEveryMs. */
  readonly followEveryMs?: number;
}

export async function readActiveGeneration(docs: DocumentStore, projection: string): Promise<number | undefined> {
  const pointer = await docs.get(POINTER_COLLECTION, projection);
  return typeof pointer?.active === 'number' ? pointer.active : undefined;
}

async function writeActiveGeneration(docs: DocumentStore, projection: string, generation: number, now: number): Promise<void> {
  await docs.replace([{ collection: POINTER_COLLECTION, doc: { _id: projection, active: generation, switchedAt: now } }]);
}

/** Removes a generation's collections and resets its checkpoint. */
export async function dropGeneration(docs: DocumentStore, projection: Projection, generation: number): Promise<void> {
  for (const collection of projection.collections) await docs.drop(physicalCollection(collection, generation));
  await docs.replace([{ collection: CHECKPOINT_COLLECTION, doc: { _id: checkpointId(projection.name, generation), position: 0, updatedAt: 0 } }]);
}

/**
 * Builds a fresh generation from the start of the log up to the head, then makes it the one queries read. The old
 * generation is left in place (a running server drops it after a grace period), so no query ever finds nothing.
 */
export async function rebuildGeneration(
  store: EventStore,
  docs: DocumentStore,
  projection: Projection,
  options: Pick<ProjectionHostOptions, 'batchSize' | 'idleMs' | 'now' | 'onBatch'> & Pick<ProjectionRunnerOptions, 'logReader' | 'onRead'>,
  beforeSwitch?: (fresh: ProjectionRunner) => Promise<void>,
): Promise<ProjectionRunner> {
  const active = (await readActiveGeneration(docs, projection.name)) ?? 0;
  const generation = active + 1;
  await dropGeneration(docs, projection, generation);
  const fresh = new ProjectionRunner(store, docs, projection, { ...options, generation });
  await fresh.ensureIndexes();
  await fresh.loadCheckpoint();
  fresh.startEmpty();
  await fresh.catchUp();
  await beforeSwitch?.(fresh);
  await writeActiveGeneration(docs, projection.name, generation, options.now());
  return fresh;
}

/**
 * Keeps one projection live inside a process: follows the log into the active generation, rebuilds into a fresh one
 * and switches to it once caught up (blue/green), and follows a switch made by the projections CLI.
 */
export class ProjectionHost {
  private live: ProjectionRunner | undefined;
  private rebuilding: Promise<ProjectionRunner> | undefined;
  private pointerTimer: NodeJS.Timeout | undefined;
  private readonly dropTimers = new Set<NodeJS.Timeout>();
  private mode: 'run' | 'watch' = 'run';

  constructor(
    private readonly store: EventStore,
    private readonly docs: DocumentStore,
    readonly projection: Projection,
    private readonly options: ProjectionHostOptions,
  ) {}

  get generation(): number {
    return this.runner().generation;
  }

  /**
   * 'run' (the default): this process feeds the projection. 'watch': another process does (the worker, with
   * WORKER=external); this one reads its documents, follows its generation switches and reports its progress.
   */
  async start(mode: 'run' | 'watch' = 'run'): Promise<void> {
    this.mode = mode;
    let generation = await readActiveGeneration(this.docs, this.projection.name);
    if (generation === undefined) {
      generation = 1;
      if (mode === 'run') await writeActiveGeneration(this.docs, this.projection.name, generation, this.options.now());
    }
    this.live = await this.open(generation);
    this.activate(this.live);
    this.pointerTimer = setInterval(() => void this.followPointer(), this.options.pointerPollMs);
    this.pointerTimer.unref();
  }

  /** The physical name under which queries find a logical collection right now. */
  collection(logical: string): string {
    return physicalCollection(logical, this.generation);
  }

  /** Before `start`, an empty progress that is not caught up. */
  progress(): ProjectionProgress & { rebuilding: boolean } {
    const progress = this.live?.progress() ?? {
      projection: this.projection.name,
      generation: 0,
      position: 0,
      head: 0,
      lagEvents: 0,
      lagMs: 0,
      caughtUp: false,
      paused: false,
    };
    return { ...progress, rebuilding: this.rebuilding !== undefined };
  }

  /** Whether this process feeds the projection (pause, resume and rebuild act only there). */
  get feeding(): boolean {
    return this.mode === 'run';
  }

  pause(): void {
    this.runner().pause();
  }

  resume(): void {
    this.runner().resume();
  }

  private activate(runner: ProjectionRunner): void {
    if (this.mode === 'run') runner.follow();
    else runner.watch();
  }

  waitForPosition(position: number, timeoutMs?: number): Promise<void> {
    return this.runner().waitForPosition(position, timeoutMs);
  }

  /** Rebuilds into a fresh generation and switches to it; concurrent calls share one rebuild. */
  rebuild(onBatch?: (progress: ProjectionProgress) => void): Promise<ProjectionRunner> {
    if (this.mode === 'watch') return Promise.reject(new Error(`projection ${this.projection.name} is fed by another process: rebuild it there`));
    this.rebuilding ??= rebuildGeneration(this.store, this.docs, this.projection, { ...this.options, onBatch: onBatch ?? this.options.onBatch }, async (fresh) => {
      // Stop the old generation, then let the fresh one take the last events before it becomes the one read.
      await this.runner().stop();
      await fresh.catchUp();
    })
      .then(
        (fresh) => this.switchTo(fresh),
        (error: unknown) => {
          // The old generation stays the one read: make sure it is followed again if it was stopped for the switch.
          this.live?.follow();
          throw error;
        },
      )
      .finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  async stop(): Promise<void> {
    if (this.pointerTimer) clearInterval(this.pointerTimer);
    for (const timer of this.dropTimers) clearTimeout(timer);
    this.dropTimers.clear();
    await this.rebuilding?.catch(() => undefined);
    await this.live?.stop();
  }

  private runner(): ProjectionRunner {
    if (!this.live) throw new Error(`projection ${this.projection.name} is not started`);
    return this.live;
  }

  private async open(generation: number): Promise<ProjectionRunner> {
    const runner = new ProjectionRunner(this.store, this.docs, this.projection, { ...this.options, generation });
    if (this.mode === 'run') await runner.ensureIndexes();
    await runner.loadCheckpoint();
    return runner;
  }

  private switchTo(fresh: ProjectionRunner): ProjectionRunner {
    const old = this.runner();
    this.live = fresh;
    this.activate(fresh);
    this.options.onSwitch?.(old.generation, fresh.generation);
    if (this.mode === 'run') this.scheduleDrop(old.generation);
    return fresh;
  }

  /** Another process (the CLI) switched generations: follow the new one from its checkpoint. */
  private async followPointer(): Promise<void> {
    if (this.rebuilding || !this.live) return;
    try {
      const active = await readActiveGeneration(this.docs, this.projection.name);
      if (active === undefined || active === this.live.generation) return;
      await this.live.stop();
      this.switchTo(await this.open(active));
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private scheduleDrop(generation: number): void {
    const timer = setTimeout(() => {
      this.dropTimers.delete(timer);
      dropGeneration(this.docs, this.projection, generation).catch((error: unknown) => this.options.onError?.(error));
    }, this.options.dropAfterMs);
    timer.unref();
    this.dropTimers.add(timer);
  }
}
