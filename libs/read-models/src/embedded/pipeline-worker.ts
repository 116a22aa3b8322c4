import type { Aggregator as MingoAggregator } from 'mingo';
import type { PipelineStage } from '../document-store';
import type { AnswerBuilder, PipelineAnswer } from '../pipeline-runner';

/** One analyst pipeline, sent to a worker that is free. */
export interface PipelineJob {
  readonly collection: string;
  readonly pipeline: readonly PipelineStage[];
  readonly maxRows: number;
  readonly maxBytes: number;
}

/** What a worker answers: ready once (its connection is open), then one outcome per job. */
export type WorkerMessage =
  | { readonly kind: 'ready' }
  | ({ readonly kind: 'answer' } & PipelineAnswer)
  /** The engine could not run a stage: the analyst's pipeline, not the server, is at fault. */
  | { readonly kind: 'refused'; readonly stage: number; readonly operator: string; readonly message: string }
  | { readonly kind: 'too-large'; readonly bytes: number }
  /** Reading the store failed: the server's fault. */
  | { readonly kind: 'failed'; readonly message: string };

export interface PipelineWorkerData {
  /** The read models' SQLite file (WAL): read here while the api writes it. */
  readonly file: string;
  /** Resolved by the parent: a worker started from source text resolves bare names from the working directory. */
  readonly modules: { readonly sqlite: string; readonly mingo: string };
}

/**
 * The program of one analyst-pipeline worker thread. It is started from its own source text (Worker `eval`), so the
 * same code runs from the build and from TypeScript sources under the test runner: it uses no imported name at run
 * time (types only), loads its modules by the paths it is given, and gets AnswerBuilder as an argument.
 *
 * It opens the file read-only, streams a collection's documents in `_id` order into the pipeline, one stage at a
 * time so that an error is pinned on the stage that threw it, and builds the JSON answer under the row and byte caps.
 * Time and memory are not its business: the parent terminates it at the deadline, and V8 ends it at its heap cap.
 */
export function pipelineWorkerProgram(Answer: typeof AnswerBuilder): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- see above: no imports at run time */
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const { file, modules } = threads.workerData as PipelineWorkerData;
  const Database = require(modules.sqlite) as typeof import('better-sqlite3');
  const { Aggregator } = require(modules.mingo) as typeof import('mingo');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const port = threads.parentPort;
  if (!port) throw new Error('the pipeline worker runs in a worker thread');

  const db = ((): import('better-sqlite3').Database => {
    try {
      return new Database(file, { readonly: true, fileMustExist: true });
    } catch (error) {
      // A plain Error crosses to the parent with its message; SQLite's own error class would arrive as a bare object.
      throw new Error(`cannot open the read models (${file}): ${error instanceof Error ? error.message : String(error)}`);
    }
  })();
  db.pragma('busy_timeout = 1000');
  const scan = db.prepare<[string], string>('SELECT body FROM documents WHERE collection = ? ORDER BY id').pluck();

  /** Thrown by a stage (or by mingo building it): the index of the stage it came from. */
  class StageFailed extends Error {
    constructor(
      readonly stage: number,
      readonly reason: unknown,
    ) {
      super(`stage ${String(stage)} failed`);
    }
  }
  /** Thrown while reading the documents: passes through the stages untouched. */
  class StoreFailed extends Error {
    constructor(readonly reason: unknown) {
      super('reading the read models failed');
    }
  }

  type Pull = { next(): { done: boolean; value?: unknown } };
  type Source = Parameters<MingoAggregator['stream']>[0];

  /** Errors out of `rows` that no earlier stage claimed are this stage's. */
  const claimed = (rows: Pull, stage: number): Pull => ({
    next: () => {
      try {
        return rows.next();
      } catch (error) {
        throw error instanceof StageFailed || error instanceof StoreFailed ? error : new StageFailed(stage, error);
      }
    },
  });

  /** mingo's own refusals (and a regex that does not compile) speak to the analyst; anything else is named as such. */
  const describe = (error: unknown): string => {
    if (error instanceof SyntaxError || (error instanceof Error && error.constructor.name === 'MingoError')) return error.message;
    return error instanceof Error ? `it could not be evaluated (${error.name}: ${error.message})` : `it could not be evaluated (${String(error)})`;
  };

  const run = (job: PipelineJob): WorkerMessage => {
    const bodies = scan.iterate(job.collection);
    try {
      let rows: Pull = {
        next: () => {
          try {
            const body = bodies.next();
            return body.done ? { done: true } : { done: false, value: JSON.parse(body.value) as unknown };
          } catch (error) {
            throw new StoreFailed(error);
          }
        },
      };
      job.pipeline.forEach((stage, index) => {
        try {
          rows = claimed(new Aggregator([stage]).stream(rows as Source), index);
        } catch (error) {
          throw new StageFailed(index, error);
        }
      });
      const answer = new Answer(job.maxRows, job.maxBytes);
      for (let row = rows.next(); !row.done; row = rows.next()) {
        const step = answer.add(row.value);
        if (step === 'full') break;
        if (step === 'too-large') return { kind: 'too-large', bytes: answer.bytes };
      }
      return { kind: 'answer', ...answer.finish() };
    } catch (error) {
      if (error instanceof StageFailed) {
        const operator = Object.keys(job.pipeline[error.stage] ?? {})[0] ?? '?';
        return { kind: 'refused', stage: error.stage, operator, message: describe(error.reason) };
      }
      const cause = error instanceof StoreFailed ? error.reason : error;
      return { kind: 'failed', message: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause) };
    } finally {
      bodies.return?.();
    }
  };

  port.on('message', (job: PipelineJob) => port.postMessage(run(job)));
  port.postMessage({ kind: 'ready' } satisfies WorkerMessage);
}
