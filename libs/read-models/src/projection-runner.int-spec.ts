import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { EventStore, MemoryEventStore, ReadAllOptions, RecordedEvent } from '@flash/event-store';
import { SparseEventStore } from '../../event-store/test/sparse-event-store';
import { eventually } from '../../../test/support/eventually';
import { dumpGeneration as dump } from '../test/generation-dump';
import { appendSaleHistory } from '../test/sale-history';
import { ANALYTICS, analyticsProjection, SALE_SUMMARY, SALE_TIMELINE } from './analytics/analytics.projection';
import { AnalyticsQueries } from './analytics/analytics-queries';
import { RejectionLog } from './analytics/rejection-log';
import { DocumentReplacement, ResultRow } from './document-store';
import { SqliteDocumentStore } from './embedded/sqlite-document-store';
import { WorkerPipelineRunner } from './embedded/worker-pipeline-runner';
import { physicalCollection } from './projection';
import { ProjectionHost, readActiveGeneration, rebuildGeneration } from './projection-host';
import { ProjectionProgress, ProjectionRunner } from './projection-runner';

const options = (generation: number, batchSize = 50) => ({ generation, batchSize, idleMs: 5, now: () => Date.now() });
const hostOptions = { batchSize: 50, idleMs: 5, now: () => Date.now(), pointerPollMs: 20, dropAfterMs: 60_000 };

async function cleanPass(store: EventStore): Promise<Record<string, ResultRow[]>> {
  const docs = new SqliteDocumentStore(':memory:');
  await new ProjectionRunner(store, docs, analyticsProjection, options(1, 1000)).catchUp();
  const result = await dump(docs, 1);
  await docs.close();
  return result;
}

/** Hands every event out twice: a subscription that re-delivers (at-least-once at its worst). */
class DeliverTwice implements Pick<EventStore, 'readAll' | 'headPosition'> {
  constructor(private readonly inner: EventStore) {}
  async readAll(o: ReadAllOptions): Promise<RecordedEvent[]> {
    const page = await this.inner.readAll({ after: o.after, maxCount: Math.max(1, Math.floor(o.maxCount / 2)) });
    return page.flatMap((e) => [e, e]);
  }
  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }
}

/** A document store that dies in the middle of a batch: the first `keep` documents land, the rest and the checkpoint don't. */
class DiesMidBatch extends SqliteDocumentStore {
  armed = false;
  keep = 0;
  override async replace(replacements: readonly DocumentReplacement[]): Promise<void> {
    if (!this.armed) return super.replace(replacements);
    this.armed = false;
    await super.replace(replacements.slice(0, Math.min(this.keep, replacements.length - 1)));
    throw new Error('killed mid-batch');
  }
}

describe('analytics projection through the runner', () => {
  let store: MemoryEventStore;
  let expected: Awaited<ReturnType<typeof appendSaleHistory>>;

  beforeAll(async () => {
    store = new MemoryEventStore();
    expected = await appendSaleHistory(store, { saleId: 's1', stock: 300, shards: 4, orders: 400, seed: 7 });
  });

  it('derives the summary the history implies, and timeline buckets that sum to it', async () => {
    const docs = new SqliteDocumentStore(':memory:');
    await new ProjectionRunner(store, docs, analyticsProjection, options(1)).catchUp();
    const summary = await docs.get(physicalCollection(SALE_SUMMARY, 1), 's1');
    expect(summary).toMatchObject({
      totalStock: 300,
      orders: expected.orders,
      reserved: expected.reserved,
      paid: expected.paid,
      expired: expected.expired,
      cancelled: expected.cancelled,
      refundPending: expected.refundPending,
      uniqueBuyers: expected.uniqueBuyers,
      available: expected.available,
    });
    const { rows } = await docs.aggregate(physicalCollection(SALE_TIMELINE, 1), [{ $match: { saleId: 's1' } }], { maxRows: 10_000, maxTimeMs: 10_000 });
    const sum = (field: string) => rows.reduce((n, r) => n + (r[field] as number), 0);
    expect(sum('reserved')).toBe(expected.orders);
    expect(sum('paid')).toBe(expected.paid);
    expect(sum('expired')).toBe(expected.expired + expected.refundPending);
    expect(sum('cancelled')).toBe(expected.cancelled);
    await docs.close();
  });

  it('delivering every event twice leaves the same documents as one clean pass', async () => {
    const docs = new SqliteDocumentStore(':memory:');
    await new ProjectionRunner(new DeliverTwice(store) as unknown as EventStore, docs, analyticsProjection, options(1, 37)).catchUp();
    expect(await dump(docs, 1)).toEqual(await cleanPass(store));
    await docs.close();
  });

  it('a runner killed mid-batch and resumed leaves the same documents as one clean pass', async () => {
    const clean = await cleanPass(store);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 5, max: 120 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.nat({ max: 200 })), { minLength: 1, maxLength: 4 }), async (batchSize, kills) => {
        const docs = new DiesMidBatch(':memory:');
        for (const [afterBatches, keep] of kills) {
          let batches = 0;
          const counting = new ProjectionRunner(store, docs, analyticsProjection, {
            ...options(1, batchSize),
            onBatch: () => {
              batches += 1;
              if (batches === afterBatches) {
                docs.armed = true;
                docs.keep = keep;
              }
            },
          });
          await counting.loadCheckpoint();
          await counting.catchUp().catch((error: unknown) => {
            if (!(error instanceof Error) || error.message !== 'killed mid-batch') throw error;
          });
        }
        const resumed = new ProjectionRunner(store, docs, analyticsProjection, options(1, batchSize));
        await resumed.loadCheckpoint();
        await resumed.catchUp();
        expect(await dump(docs, 1)).toEqual(clean);
        await docs.close();
      }),
      { numRuns: 15 },
    );
  });
});

/**
 * A log whose `readAll` can be held: while `stepping`, every read waits until the test lets it through. A rebuild
 * reads one slice (batch) per `readAll`, so it stops between slices and the test acts while it is provably in the
 * middle. (A live runner that is caught up only asks for the head, never for a page.)
 */
class SteppedStore extends MemoryEventStore {
  stepping = false;
  private parked: (() => void) | undefined;
  private onParked: (() => void) | undefined;

  override async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    if (this.stepping) {
      await new Promise<void>((resolve) => {
        this.parked = resolve;
        this.onParked?.();
      });
    }
    return super.readAll(options);
  }

  /** Resolves once a read is waiting to be let through. */
  nextPause(): Promise<void> {
    if (this.parked) return Promise.resolve();
    return new Promise((resolve) => (this.onParked = resolve));
  }

  /** Lets the waiting read through. */
  resume(): void {
    const parked = this.parked;
    this.parked = undefined;
    this.onParked = undefined;
    parked?.();
  }
}

/** Polls `condition` until it holds; fails with `message` at the deadline (a hang guard, not a speed claim). */
async function waitFor(condition: () => Promise<boolean>, message: () => Promise<string> | string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${await message()} (after ${String(deadlineMs)} ms)`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a runner following with followEveryMs', () => {
  it('folds what arrived while it waited in one batch, and a catch-up does not wait between batches', async () => {
    const store = new MemoryEventStore(() => 1_000);
    await appendSaleHistory(store, { saleId: 's1', stock: 40, shards: 2, orders: 30, seed: 3 });
    const docs = new SqliteDocumentStore(':memory:');
    const batches: number[] = [];
    const runner = new ProjectionRunner(store, docs, analyticsProjection, {
      ...options(1, 50),
      followEveryMs: 60_000,
      onBatch: (p) => batches.push(p.position),
    });
    await runner.loadCheckpoint();
    runner.follow();
    // Several batches of 50, one after the other: a wait between them would outlast this deadline.
    await eventually('the runner caught up with the history', async () => (await store.headPosition()) === runner.progress().position, { timeoutMs: 20_000 });
    const caughtUp = batches.length;
    expect(caughtUp).toBeGreaterThan(1);
    // More history arrives while the runner waits after its last batch (it reached the head): nothing is folded until
    // the wait is over, however many appends come.
    await appendSaleHistory(store, { saleId: 's2', stock: 40, shards: 2, orders: 30, seed: 4 });
    await new Promise((r) => setTimeout(r, 200));
    expect(batches).toHaveLength(caughtUp);
    expect(runner.progress().position).toBeLessThan(await store.headPosition());
    await runner.stop();
  });
});

describe('blue/green rebuild', () => {
  it('queries answer from the old generation during every slice of a rebuild, from the new one after the switch, and still once the old one is dropped', async () => {
    const store = new SteppedStore();
    await appendSaleHistory(store, { saleId: 's1', stock: 500, shards: 4, orders: 700, seed: 11 });
    const head = await store.headPosition();
    // On disk, as the server keeps it: the analyst pipelines run in a worker thread that reads the file.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'blue-green-')), 'read-models.sqlite');
    const docs = new SqliteDocumentStore(file);
    const pipelines = new WorkerPipelineRunner({ file, workers: 1, maxWaiting: 4, maxMemoryMb: 128 });
    const host = new ProjectionHost(store, docs, analyticsProjection, { ...hostOptions, dropAfterMs: 100 });
    await host.start();
    await host.waitForPosition(head, 20_000);
    const queries = new AnalyticsQueries(docs, host, new RejectionLog(docs), pipelines, { maxRows: 1000, maxTimeMs: 5000, maxBytes: 1024 * 1024 });
    const live = await dump(docs, 1);
    const rowsOf = async (collection: string) => (JSON.parse((await queries.query(collection, [{ $count: 'n' }])).json) as { rows: unknown }).rows;
    const answer = async () => {
      const summary = await queries.summary('s1');
      return { summary: summary && { ...summary, projectionPosition: 'ignored' }, orders: await rowsOf('orders'), buyers: await rowsOf('buyers') };
    };
    const expected = await answer();
    expect(expected.summary?.orders).toBeGreaterThan(0);

    // Every probe: when it ran, the generation the host served, whether a rebuild was under way (as the host says),
    // and whether the answer was the whole read model's.
    const probes: Array<{ when: string; generation: number; rebuilding: boolean; right: boolean }> = [];
    const wrong: unknown[] = [];
    const probe = async (when: string): Promise<void> => {
      const seen = { when, generation: host.generation, rebuilding: host.progress().rebuilding };
      try {
        const got = await answer();
        const right = JSON.stringify(got) === JSON.stringify(expected);
        if (!right) wrong.push({ ...seen, got });
        probes.push({ ...seen, right });
      } catch (error) {
        wrong.push({ ...seen, error: String(error) });
        probes.push({ ...seen, right: false });
      }
    };
    // Beside the probes at each pause, one that never stops, from before the rebuild to after the drop.
    let phase = 'before the rebuild';
    const background = { on: true };
    const backgroundLoop = (async () => {
      while (background.on) {
        await probe(`background, ${phase}`);
        await new Promise((r) => setImmediate(r));
      }
    })();

    let fresh: ProjectionProgress | undefined;
    let slices = 0;
    let pausesMidRebuild = 0;
    let partialSeen = 0;
    store.stepping = true;
    phase = 'during the rebuild';
    const rebuilt = host.rebuild((progress) => {
      fresh = progress;
      slices += 1;
    });
    for (;;) {
      const paused = await Promise.race([store.nextPause().then(() => true), rebuilt.then(() => false)]);
      if (!paused) break;
      // Stopped between two slices: the rebuild is under way and not done, the old generation is the one read.
      const state = { rebuilding: host.progress().rebuilding, served: host.generation, pointer: await readActiveGeneration(docs, ANALYTICS), freshBehind: (fresh?.position ?? 0) < head };
      expect(state).toEqual({ rebuilding: true, served: 1, pointer: 1, freshBehind: true });
      pausesMidRebuild += 1;
      // What the generation being built holds right now: a probe that read it would see a partial read model.
      const building = await docs.get(physicalCollection(SALE_SUMMARY, 2), 's1');
      if (building && typeof building.orders === 'number' && building.orders < (expected.summary?.orders ?? 0)) partialSeen += 1;
      await probe(`paused after slice ${String(slices)}`);
      // The rebuild runs on promises alone: yield a turn of the event loop, so the background probe runs meanwhile.
      await new Promise((r) => setImmediate(r));
      store.resume();
    }
    const rebuiltRunner = await rebuilt;
    store.stepping = false;
    phase = 'after the switch';
    for (let i = 0; i < 3; i++) await probe('after the switch');

    // Probes provably landed mid-rebuild: one at every pause between slices, while the new generation was partial.
    expect(pausesMidRebuild).toBe(slices);
    expect(slices).toBeGreaterThanOrEqual(10);
    expect(partialSeen).toBeGreaterThanOrEqual(slices - 2);
    expect(rebuiltRunner.generation).toBe(2);
    expect(host.generation).toBe(2);
    expect(await readActiveGeneration(docs, ANALYTICS)).toBe(2);
    expect(await dump(docs, 2)).toEqual(live);

    // The old generation is dropped after its grace period; queries keep answering from the new one.
    const oldCollections = analyticsProjection.collections.map((c) => physicalCollection(c, 1));
    const leftOver = async () => (await docs.collections()).filter((c) => oldCollections.includes(c));
    await waitFor(async () => (await leftOver()).length === 0, async () => `generation 1 was never dropped: ${(await leftOver()).join(', ')} still hold documents`);
    phase = 'after the drop';
    const probesBeforeDrop = probes.length;
    for (let i = 0; i < 5; i++) await probe('after the drop');
    await waitFor(async () => probes.filter((p) => p.when === 'background, after the drop').length >= 5, () => 'the background probe stopped');
    background.on = false;
    await backgroundLoop;

    expect(wrong).toEqual([]);
    expect(probes.filter((p) => p.when.startsWith('background') && p.rebuilding).length).toBeGreaterThan(0);
    // The host served generation 1 until the switch and generation 2 from then on: once switched, never back.
    const served = probes.map((p) => p.generation);
    const switchedAt = served.indexOf(2);
    expect({ before: served.slice(0, switchedAt).every((g) => g === 1), after: served.slice(switchedAt).every((g) => g === 2) }).toEqual({ before: true, after: true });
    expect(probes.length - probesBeforeDrop).toBeGreaterThanOrEqual(10);
    await host.stop();
    await pipelines.close();
    await docs.close();
  });

  it('a running host follows a switch made by another process (the CLI) and keeps up with new events', async () => {
    const store = new MemoryEventStore();
    await appendSaleHistory(store, { saleId: 's1', stock: 50, shards: 2, orders: 60, seed: 3 });
    const docs = new SqliteDocumentStore(':memory:');
    const host = new ProjectionHost(store, docs, analyticsProjection, hostOptions);
    await host.start();
    await rebuildGeneration(store, docs, analyticsProjection, hostOptions);
    const deadline = Date.now() + 5000;
    while (host.generation !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(host.generation).toBe(2);
    await appendSaleHistory(store, { saleId: 's2', stock: 10, shards: 1, orders: 5, seed: 4 });
    await host.waitForPosition(await store.headPosition());
    expect(await docs.get(physicalCollection(SALE_SUMMARY, 2), 's2')).toMatchObject({ totalStock: 10 });
    await host.stop();
    await docs.close();
  });
  it('a host that watches (WORKER=external in the api) reports the feeding host\'s progress, follows its switches, and does not feed', async () => {
    const store = new MemoryEventStore();
    await appendSaleHistory(store, { saleId: 's1', stock: 20, shards: 2, orders: 15, seed: 5 });
    const docs = new SqliteDocumentStore(':memory:');
    const watcher = new ProjectionHost(store, docs, analyticsProjection, hostOptions);
    const feeder = new ProjectionHost(store, docs, analyticsProjection, hostOptions);
    try {
    await watcher.start('watch');
    expect(watcher.feeding).toBe(false);
    // Nobody feeds yet: the watcher applies nothing, and is not caught up with the head it saw.
    await new Promise((r) => setTimeout(r, 300));
    expect(watcher.progress()).toMatchObject({ position: 0, caughtUp: false });
    expect(await docs.get(physicalCollection(SALE_SUMMARY, 1), 's1')).toBeUndefined();
    await expect(watcher.rebuild()).rejects.toThrow(/fed by another process/);

    await feeder.start();
    const head = await store.headPosition();
    await feeder.waitForPosition(head);
    const deadline = Date.now() + 5000;
    while (!watcher.progress().caughtUp && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(watcher.progress()).toMatchObject({ position: head, caughtUp: true, generation: 1 });

    // A switch made by the feeding side (here the CLI's rebuild) is followed by the watcher too.
    await rebuildGeneration(store, docs, analyticsProjection, hostOptions);
    while (watcher.generation !== 2 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 10));
    expect(watcher.generation).toBe(2);
    } finally {
      await watcher.stop();
      await feeder.stop();
      await docs.close();
    }
  });
});

describe('lag on a store whose positions are sparse (EventStoreDB: log offsets)', () => {
  it('reports the events not yet applied, counted, not the difference of two positions', async () => {
    const store = new SparseEventStore(new MemoryEventStore());
    await appendSaleHistory(store, { saleId: 's1', stock: 40, shards: 2, orders: 30, seed: 3 });
    const docs = new SqliteDocumentStore(':memory:');
    // One batch of 10, then a long pause: the runner stays behind, at a known place.
    const runner = new ProjectionRunner(store, docs, analyticsProjection, { ...options(1, 10), pace: () => 60_000 });
    runner.follow();
    try {
      await eventually('the first batch to be applied', () => runner.progress().position > 0, { seen: () => runner.progress() });
      await eventually('the lag to be counted', () => runner.progress().lagEvents > 0, { seen: () => runner.progress() });
      const { position, head, lagEvents } = runner.progress();
      const notApplied = (await store.readAll({ after: position, maxCount: 1_000_000 })).length;
      expect(lagEvents).toBe(notApplied);
      expect(head - position).toBeGreaterThan(notApplied); // what a subtraction would have claimed
    } finally {
      await runner.stop();
      await docs.close();
    }
  });
});
