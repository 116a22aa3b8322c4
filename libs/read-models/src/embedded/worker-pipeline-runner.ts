import { Worker } from 'node:worker_threads';
import { PipelineRefused } from '../analytics/pipeline-policy';
import { PipelineStage, QueryTimeLimitExceeded } from '../document-store';
import { AnswerBuilder, PipelineAnswer, PipelineLimits, PipelineRunner, PipelineRunnerBusy, QueryTooLarge } from '../pipeline-runner';
import { PipelineJob, pipelineWorkerProgram, PipelineWorkerData, WorkerMessage } from './pipeline-worker';

/** The worker's whole program as source text: the same from the build and from TypeScript sources (see the program). */
const WORKER_SOURCE = `(${pipelineWorkerProgram.toString()})(${AnswerBuilder.toString()});`;

export interface WorkerPipelineRunnerOptions {
  /** The embedded read models' SQLite file (WAL mode): each worker reads it through a read-only connection of its own. */
  readonly file: string;
  /** Workers kept warm: at most this many pipelines run at once. */
  readonly workers: number;
  /** Pipelines that may wait for a free worker, each at most its own maxTimeMs; beyond, PipelineRunnerBusy at once. */
  readonly maxWaiting: number;
  /** Each worker's V8 heap cap (old generation, resourceLimits): a pipeline that needs more ends with QueryTooLarge. */
  readonly maxMemoryMb: number;
  /** A worker failed outside any pipeline (it could not start, or died idle): for the log. */
  readonly onWorkerError?: (error: unknown) => void;
}

interface Job {
  readonly message: PipelineJob;
  readonly limits: PipelineLimits;
  readonly resolve: (answer: PipelineAnswer) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker | undefined;
  /** The worker said it is ready: a death after this is a pipeline's doing, so the slot gets a fresh worker at once. */
  ready: boolean;
  running: { readonly job: Job; readonly deadline: NodeJS.Timeout } | undefined;
}

const isOutOfMemory = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';

/**
 * Analyst pipelines over the embedded read models, off the api's event loop: a few warm worker threads, each with
 * its own read-only connection to the SQLite file (WAL lets them read while the api writes), a heap cap, and a hard
 * deadline — a pipeline still running at its maxTimeMs has its worker terminated (QueryTimeLimitExceeded) and the
 * slot gets a fresh one. A pipeline that finds every worker busy waits its turn, at most `maxWaiting` of them and each
 * at most its maxTimeMs; past either it is refused with PipelineRunnerBusy (retryable). Only the pipeline and the
 * finished JSON answer (at most maxBytes) cross between threads.
 */
export class WorkerPipelineRunner implements PipelineRunner {
  private readonly slots: Slot[];
  private readonly waiting: Array<{ readonly job: Job; readonly expiry: NodeJS.Timeout }> = [];
  private closed = false;

  /** Starts the workers at once: the first query finds them warm. */
  constructor(private readonly options: WorkerPipelineRunnerOptions) {
    this.slots = Array.from({ length: Math.max(1, options.workers) }, () => ({ worker: undefined, ready: false, running: undefined }));
    for (const slot of this.slots) this.spawn(slot);
  }

  run(collection: string, pipeline: readonly PipelineStage[], limits: PipelineLimits): Promise<PipelineAnswer> {
    return new Promise<PipelineAnswer>((resolve, reject) => {
      if (this.closed) return reject(new Error('the analytics workers are stopped'));
      const job: Job = { message: { collection, pipeline, maxRows: limits.maxRows, maxBytes: limits.maxBytes }, limits, resolve, reject };
      const free = this.slots.find((slot) => slot.running === undefined);
      if (free) return this.dispatch(free, job);
      if (this.waiting.length >= this.options.maxWaiting) return reject(new PipelineRunnerBusy(limits.maxTimeMs));
      const entry = {
        job,
        expiry: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(entry), 1);
          reject(new PipelineRunnerBusy(limits.maxTimeMs));
        }, limits.maxTimeMs),
      };
      this.waiting.push(entry);
    });
  }

  /** Refuses what waits, abandons what runs, and terminates every worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const { job, expiry } of this.waiting.splice(0)) {
      clearTimeout(expiry);
      job.reject(new Error('the analytics workers are stopping'));
    }
    const workers: Worker[] = [];
    for (const slot of this.slots) {
      this.settle(slot)?.reject(new Error('the analytics workers are stopping'));
      if (slot.worker) workers.push(this.detach(slot, slot.worker));
    }
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  private spawn(slot: Slot): Worker {
    const data: PipelineWorkerData = { file: this.options.file, modules: { sqlite: require.resolve('better-sqlite3'), mingo: require.resolve('mingo') } };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data, resourceLimits: { maxOldGenerationSizeMb: this.options.maxMemoryMb } });
    worker.unref();
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (message: WorkerMessage) => this.onMessage(slot, message));
    worker.on('error', (error) => this.onDeath(slot, worker, error));
    worker.on('exit', (code) => this.onDeath(slot, worker, new Error(`an analytics worker exited with code ${String(code)}`)));
    return worker;
  }

  private dispatch(slot: Slot, job: Job): void {
    const worker = slot.worker ?? this.spawn(slot);
    slot.running = { job, deadline: setTimeout(() => this.expire(slot), job.limits.maxTimeMs) };
    worker.postMessage(job.message);
  }

  private onMessage(slot: Slot, message: WorkerMessage): void {
    if (message.kind === 'ready') {
      slot.ready = true;
      return;
    }
    const job = this.settle(slot);
    if (!job) return;
    switch (message.kind) {
      case 'answer':
        job.resolve({ json: message.json, rows: message.rows, truncated: message.truncated });
        break;
      case 'refused':
        job.reject(new PipelineRefused(`stage ${String(message.stage)} (${message.operator}): ${message.message}`, { stage: message.stage, operator: message.operator }));
        break;
      case 'too-large':
        job.reject(new QueryTooLarge(`the answer is larger than ${String(job.limits.maxBytes)} bytes`));
        break;
      case 'failed':
        job.reject(new Error(`an analytics worker could not read the read models: ${message.message}`));
        break;
    }
    this.next(slot);
  }

  /** The deadline: the pipeline is abandoned, its worker terminated (mid-computation) and replaced. */
  private expire(slot: Slot): void {
    const job = this.settle(slot);
    if (!job) return;
    job.reject(new QueryTimeLimitExceeded(job.limits.maxTimeMs));
    if (slot.worker) void this.detach(slot, slot.worker).terminate();
    this.spawn(slot);
    this.next(slot);
  }

  private onDeath(slot: Slot, worker: Worker, error: unknown): void {
    if (slot.worker !== worker) return;
    const wasReady = slot.ready;
    this.detach(slot, worker);
    const job = this.settle(slot);
    if (job) job.reject(isOutOfMemory(error) ? new QueryTooLarge(`the query needs more than ${String(this.options.maxMemoryMb)} MB of memory`) : error);
    else this.options.onWorkerError?.(error);
    if (this.closed) return;
    // A worker that never got ready (the file cannot be opened) is not started again in a loop: the next query will.
    if (wasReady) this.spawn(slot);
    this.next(slot);
  }

  /** Forgets the worker: its events no longer reach the slot. */
  private detach(slot: Slot, worker: Worker): Worker {
    worker.removeAllListeners();
    worker.on('error', () => undefined); // a late error from a worker being terminated is of no interest
    slot.worker = undefined;
    slot.ready = false;
    return worker;
  }

  /** Ends the slot's current run, if any, and hands back its job to settle. */
  private settle(slot: Slot): Job | undefined {
    const running = slot.running;
    if (!running) return undefined;
    clearTimeout(running.deadline);
    slot.running = undefined;
    return running.job;
  }

  /** Gives a free slot the longest-waiting pipeline. */
  private next(slot: Slot): void {
    if (this.closed || slot.running) return;
    const entry = this.waiting.shift();
    if (!entry) return;
    clearTimeout(entry.expiry);
    this.dispatch(slot, entry.job);
  }
}
