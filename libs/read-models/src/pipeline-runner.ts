import { PipelineStage } from './document-store';

/**
 * The analyst pipeline port: runs a pipeline an analyst wrote (checked against the allowlist and its stages'
 * arguments first, see analytics/pipeline-policy.ts) under hard limits, never on the caller's event loop where the
 * store evaluates pipelines itself. Adapters: worker threads over the embedded SQLite file
 * (embedded/worker-pipeline-runner.ts) and MongoDB (mongo/mongo-pipeline-runner.ts); one contract suite
 * (../test/pipeline-runner.contract.ts) runs against both.
 */
export interface PipelineRunner {
  /**
   * The answer, or: PipelineRefused (a stage the engine cannot run, named), QueryTimeLimitExceeded, QueryTooLarge,
   * PipelineRunnerBusy (no worker free in time).
   */
  run(collection: string, pipeline: readonly PipelineStage[], limits: PipelineLimits): Promise<PipelineAnswer>;
  /** Ends what the runner itself holds (its workers); the store it reads is its owner's to close. */
  close(): Promise<void>;
}

export interface PipelineLimits {
  /** At most this many rows come back; `truncated` says whether more were there. */
  readonly maxRows: number;
  /** Running longer ends the query with QueryTimeLimitExceeded. */
  readonly maxTimeMs: number;
  /** An answer over this many bytes of JSON ends the query with QueryTooLarge. */
  readonly maxBytes: number;
}

/** The answer as it is sent: built once, where the rows are, and passed on as text. */
export interface PipelineAnswer {
  /** `{"rows":[…],"truncated":…}` in UTF-8 JSON, at most `maxBytes` bytes. */
  readonly json: string;
  readonly rows: number;
  readonly truncated: boolean;
}

/** The answer outgrew ANALYTICS_MAX_BYTES, or the computation its worker's memory cap. */
export class QueryTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryTooLarge';
  }
}

/** Every worker busy and no turn came in time: retryable, unlike a query that ran past its own time. */
export class PipelineRunnerBusy extends Error {
  constructor(readonly retryAfterMs: number) {
    super('every analytics worker is busy; retry shortly');
    this.name = 'PipelineRunnerBusy';
  }
}

/** What AnswerBuilder.add did with a row: kept it, found the answer full (so it is truncated), or found it too large. */
export type AnswerStep = 'added' | 'full' | 'too-large';

/**
 * Builds the answer `{"rows":[…],"truncated":…}` a row at a time, as it will be sent: at most `maxRows` rows (a row
 * offered past them makes it `truncated`) and never more than `maxBytes` bytes. It names nothing outside itself: the
 * pipeline worker gets it as source text (embedded/pipeline-worker.ts).
 */
export class AnswerBuilder {
  readonly #rows: string[] = [];
  /** The bytes of the answer with the rows so far, counting `false` (the longer of the two endings). */
  #bytes = '{"rows":[],"truncated":false}'.length;
  #truncated = false;

  constructor(
    private readonly maxRows: number,
    private readonly maxBytes: number,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  add(row: unknown): AnswerStep {
    if (this.#rows.length >= this.maxRows) {
      this.#truncated = true;
      return 'full';
    }
    let text: string;
    try {
      text = JSON.stringify(row);
    } catch (error) {
      // A row too long for one string is too large by any measure; anything else (a cycle) cannot come from JSON.
      if (error instanceof RangeError) return 'too-large';
      throw error;
    }
    const separator = this.#rows.length > 0 ? 1 : 0;
    // A UTF-8 byte per UTF-16 unit at least: a row too long by that measure is not counted byte by byte.
    if (this.#bytes + text.length + separator > this.maxBytes) return 'too-large';
    this.#bytes += Buffer.byteLength(text) + separator;
    if (this.#bytes > this.maxBytes) return 'too-large';
    this.#rows.push(text);
    return 'added';
  }

  finish(): PipelineAnswer {
    return { json: `{"rows":[${this.#rows.join(',')}],"truncated":${String(this.#truncated)}}`, rows: this.#rows.length, truncated: this.#truncated };
  }
}
