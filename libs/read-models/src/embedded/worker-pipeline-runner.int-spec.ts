import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipelineRunnerContract } from '../../test/pipeline-runner.contract';
import { PipelineStage, QueryTimeLimitExceeded } from '../document-store';
import { PipelineLimits, PipelineRunnerBusy, QueryTooLarge } from '../pipeline-runner';
import { SqliteDocumentStore } from './sqlite-document-store';
import { WorkerPipelineRunner, WorkerPipelineRunnerOptions } from './worker-pipeline-runner';

const freshFile = (): string => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pipelines-')), 'read-models.sqlite');

/** Exponential backtracking on a string of 30 a's and a '!': minutes of regex engine, in one stage. */
const CATASTROPHIC: PipelineStage[] = [{ $addFields: { s: `${'a'.repeat(30)}!` } }, { $match: { s: { $regex: '^(a+)+$' } } }];

const LIMITS: PipelineLimits = { maxRows: 1000, maxTimeMs: 10_000, maxBytes: 4 * 1024 * 1024 };

pipelineRunnerContract('worker threads over the embedded SQLite file', async () => {
  const file = freshFile();
  const docs = new SqliteDocumentStore(file);
  const runner = new WorkerPipelineRunner({ file, workers: 1, maxWaiting: 4, maxMemoryMb: 128 });
  return {
    docs,
    runner,
    slow: async () => ({ pipeline: CATASTROPHIC }),
    close: async () => {
      await runner.close();
      await docs.close();
    },
  };
});

describe('WorkerPipelineRunner', () => {
  let docs: SqliteDocumentStore;
  let file: string;
  const runners: WorkerPipelineRunner[] = [];
  const open = (options: Partial<WorkerPipelineRunnerOptions> = {}): WorkerPipelineRunner => {
    const runner = new WorkerPipelineRunner({ file, workers: 1, maxWaiting: 4, maxMemoryMb: 128, ...options });
    runners.push(runner);
    return runner;
  };
  const count = (runner: WorkerPipelineRunner, limits: Partial<PipelineLimits> = {}) =>
    runner.run('orders', [{ $count: 'n' }], { ...LIMITS, ...limits }).then((answer) => JSON.parse(answer.json) as unknown);

  beforeEach(async () => {
    file = freshFile();
    docs = new SqliteDocumentStore(file);
    await docs.replace(Array.from({ length: 20 }, (_, i) => ({ collection: 'orders', doc: { _id: `o${String(i).padStart(2, '0')}`, n: i } })));
  });

  afterEach(async () => {
    for (const runner of runners.splice(0)) await runner.close();
    await docs.close();
  });

  it('keeps the caller’s event loop free while a pipeline runs, and its writes going', async () => {
    const runner = open();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const query = runner.run('orders', CATASTROPHIC, { ...LIMITS, maxTimeMs: 600 }).catch((error: unknown) => error);
    // While the worker backtracks, this thread writes to the same file (WAL: the reader does not block it) and ticks.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await docs.replace([{ collection: 'orders', doc: { _id: 'written-meanwhile', n: 99 } }]);
    const ticksWhileRunning = ticks;
    expect(await query).toBeInstanceOf(QueryTimeLimitExceeded);
    clearInterval(ticker);
    expect(ticksWhileRunning).toBeGreaterThan(3);
    expect(await docs.get('orders', 'written-meanwhile')).toEqual({ _id: 'written-meanwhile', n: 99 });
    expect(await count(runner)).toEqual({ rows: [{ n: 21 }], truncated: false });
  });

  it('terminates a worker at the deadline and answers the next pipeline from a fresh one', async () => {
    const runner = open();
    for (let i = 0; i < 3; i++) await expect(runner.run('orders', CATASTROPHIC, { ...LIMITS, maxTimeMs: 150 })).rejects.toBeInstanceOf(QueryTimeLimitExceeded);
    expect(await count(runner)).toEqual({ rows: [{ n: 20 }], truncated: false });
  });

  it('ends a pipeline that outgrows the worker heap with QueryTooLarge, and goes on', async () => {
    const runner = open({ maxMemoryMb: 32 });
    // Every document grows an array of a million numbers, and $group keeps them all: far past 32 MB.
    const hungry: PipelineStage[] = [{ $project: { r: { $range: [0, 1_000_000] } } }, { $group: { _id: null, all: { $push: '$r' } } }];
    await expect(runner.run('orders', hungry, { ...LIMITS, maxTimeMs: 30_000 })).rejects.toBeInstanceOf(QueryTooLarge);
    expect(await count(runner)).toEqual({ rows: [{ n: 20 }], truncated: false });
  });

  it('lets pipelines wait for a busy worker up to maxWaiting, and refuses the rest at once as busy', async () => {
    const runner = open({ workers: 1, maxWaiting: 1 });
    const running = runner.run('orders', CATASTROPHIC, { ...LIMITS, maxTimeMs: 400 }).catch((error: unknown) => error);
    const waiting = count(runner, { maxTimeMs: 2000 });
    const refused = await count(runner).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PipelineRunnerBusy);
    expect(refused).toMatchObject({ retryAfterMs: LIMITS.maxTimeMs });
    expect(await running).toBeInstanceOf(QueryTimeLimitExceeded);
    expect(await waiting).toEqual({ rows: [{ n: 20 }], truncated: false });
  });

  it('refuses as busy a pipeline whose turn does not come within its own time limit', async () => {
    const runner = open({ workers: 1, maxWaiting: 4 });
    const running = runner.run('orders', CATASTROPHIC, { ...LIMITS, maxTimeMs: 1000 }).catch((error: unknown) => error);
    await expect(count(runner, { maxTimeMs: 100 })).rejects.toBeInstanceOf(PipelineRunnerBusy);
    expect(await running).toBeInstanceOf(QueryTimeLimitExceeded);
  });

  it('runs as many pipelines at once as it has workers', async () => {
    const runner = open({ workers: 2, maxWaiting: 0 });
    const both = await Promise.all([0, 1].map(() => runner.run('orders', CATASTROPHIC, { ...LIMITS, maxTimeMs: 300 }).catch((error: unknown) => error)));
    expect(both.map((outcome) => outcome instanceof QueryTimeLimitExceeded)).toEqual([true, true]);
  });

  it('reports a worker that cannot open the file, fails the pipeline that needed it, and does not restart it in a loop', async () => {
    const errors: unknown[] = [];
    const runner = new WorkerPipelineRunner({ file: path.join(path.dirname(file), 'missing.sqlite'), workers: 1, maxWaiting: 1, maxMemoryMb: 64, onWorkerError: (error) => errors.push(error) });
    runners.push(runner);
    const deadline = Date.now() + 10_000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/cannot open the read models/) })]);
    await expect(count(runner)).rejects.toThrow(/cannot open the read models/);
    expect(errors).toHaveLength(1);
  });

  it('refuses what waits and abandons what runs when closed', async () => {
    const runner = open({ workers: 1, maxWaiting: 1 });
    const running = runner.run('orders', CATASTROPHIC, { ...LIMITS, maxTimeMs: 5000 }).catch((error: unknown) => error);
    const waiting = count(runner).catch((error: unknown) => error);
    await runner.close();
    expect(await running).toMatchObject({ message: expect.stringMatching(/stopping/) });
    expect(await waiting).toMatchObject({ message: expect.stringMatching(/stopping/) });
    await expect(count(runner)).rejects.toThrow(/stopped/);
  });
});
