import { Worker } from 'node:worker_threads';

/** The worker's own code: its connection to the same file, a PASSIVE checkpoint whenever it is asked. */
const WORKER_SOURCE = (sqliteModule: string): string => `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(${JSON.stringify(sqliteModule)});
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.postMessage({ closed: true });
    return;
  }
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ result });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
});
`;

export interface CheckpointOutcome {
  /** SQLite's answer: busy flag, frames in the WAL, frames checkpointed. */
  readonly result?: { busy: number; log: number; checkpointed: number };
  readonly error?: string;
}

/**
 * WAL checkpoints off the event loop. A checkpoint copies the WAL's pages into the database file and fsyncs it:
 * tens of milliseconds on this kind of disk. Left to SQLite's automatic checkpoint it runs inside the commit that
 * crosses the threshold, on the event loop, and every request in flight waits behind it (the bench's latency row
 * saw 40 ms stalls every few seconds). Here the writer turns automatic checkpoints off and a worker thread with its
 * own connection runs a PASSIVE checkpoint every `intervalMs`: it copies what no reader still needs and never blocks
 * the writer, which keeps appending to the WAL meanwhile. Durability is unchanged: a commit is durable once its WAL
 * frames are synced (synchronous=FULL); the checkpoint only moves them.
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;
  private pending: ((outcome: CheckpointOutcome) => void) | undefined;
  private running = false;
  private closed = false;

  constructor(file: string, intervalMs: number, onOutcome: (outcome: CheckpointOutcome) => void = () => undefined) {
    this.worker = new Worker(WORKER_SOURCE(require.resolve('better-sqlite3')), { eval: true, workerData: { file } });
    this.worker.unref();
    this.worker.on('message', (message: CheckpointOutcome & { closed?: boolean }) => {
      if (message.closed) return;
      this.running = false;
      onOutcome(message);
      const waiter = this.pending;
      this.pending = undefined;
      waiter?.(message);
    });
    this.worker.on('error', (error) => onOutcome({ error: String(error) }));
    this.timer = setInterval(() => this.request(), intervalMs);
    this.timer.unref();
  }

  private request(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.worker.postMessage('checkpoint');
  }

  /** Runs one checkpoint now (tests; and a last one before closing). */
  checkpoint(): Promise<CheckpointOutcome> {
    return new Promise((resolve) => {
      const previous = this.pending;
      this.pending = (outcome) => {
        previous?.(outcome);
        resolve(outcome);
      };
      if (!this.running) this.request();
    });
  }

  /** Stops the timer and closes the worker's connection, so that the writer's close is the last one. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.running) await new Promise<void>((resolve) => (this.pending = () => resolve()));
    await new Promise<void>((resolve) => {
      this.worker.once('message', () => resolve());
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('close');
    });
    await this.worker.terminate();
  }
}
