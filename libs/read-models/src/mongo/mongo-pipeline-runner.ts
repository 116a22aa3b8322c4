import type { Db } from 'mongodb';
import { PipelineRefused, stageMentionedIn } from '../analytics/pipeline-policy';
import { PipelineStage, QueryTimeLimitExceeded } from '../document-store';
import { AnswerBuilder, PipelineAnswer, PipelineLimits, PipelineRunner, QueryTooLarge } from '../pipeline-runner';
import { MAX_TIME_MS_EXPIRED, serverErrorCode } from './mongo-errors';

/** The server ran out of room for the query: a blocking stage over its memory limit, or a document over 16 MB. */
const TOO_LARGE = new Set([
  146, // ExceededMemoryLimit
  292, // QueryExceededMemoryLimitNoDiskUseAllowed
  10334, // BSONObjectTooLarge
]);

/**
 * Errors that say nothing about the pipeline: the server or the connection is in trouble (the codes MongoDB marks as
 * retryable for reads, shutdown and interruption, authentication). They stay errors of the server (500).
 */
const SERVER_TROUBLE = new Set([
  1, // InternalError
  6, // HostUnreachable
  7, // HostNotFound
  8, // UnknownError
  11, // UserNotFound
  13, // Unauthorized
  18, // AuthenticationFailed
  24, // LockTimeout
  43, // CursorNotFound
  63, // StaleShardVersion
  89, // NetworkTimeout
  91, // ShutdownInProgress
  133, // FailedToSatisfyReadPreference
  134, // ReadConcernMajorityNotAvailableYet
  150, // StaleEpoch
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11601, // Interrupted
  11602, // InterruptedDueToReplStateChange
  13388, // StaleConfig
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/**
 * Analyst pipelines on MongoDB: the server runs them (never this event loop) under `maxTimeMS`; the rows are read a
 * batch at a time and the answer is built as they come, so one past ANALYTICS_MAX_BYTES stops the cursor. Pipeline
 * errors MongoDB finds beyond what pipeline-policy.ts refuses up front are refused too (400), naming the stage its
 * message points at.
 */
export class MongoPipelineRunner implements PipelineRunner {
  constructor(private readonly db: Db) {}

  async run(collection: string, pipeline: readonly PipelineStage[], limits: PipelineLimits): Promise<PipelineAnswer> {
    const answer = new AnswerBuilder(limits.maxRows, limits.maxBytes);
    // One row past the cap tells whether there were more, without computing them all.
    const cursor = this.db.collection(collection).aggregate([...pipeline, { $limit: limits.maxRows + 1 }], { maxTimeMS: limits.maxTimeMs, batchSize: limits.maxRows + 1 });
    try {
      for await (const row of cursor) {
        const step = answer.add(row);
        if (step === 'full') break;
        if (step === 'too-large') throw new QueryTooLarge(`the answer is larger than ${String(limits.maxBytes)} bytes`);
      }
      return answer.finish();
    } catch (error) {
      throw refusalOf(error, pipeline, limits) ?? error;
    } finally {
      await cursor.close();
    }
  }

  async close(): Promise<void> {
    // Nothing of its own: the connection is the store's.
  }
}

function refusalOf(error: unknown, pipeline: readonly PipelineStage[], limits: PipelineLimits): Error | undefined {
  const code = serverErrorCode(error);
  if (code === undefined || SERVER_TROUBLE.has(code)) return undefined;
  if (code === MAX_TIME_MS_EXPIRED) return new QueryTimeLimitExceeded(limits.maxTimeMs);
  if (TOO_LARGE.has(code)) return new QueryTooLarge(`the query is too large for the server: ${(error as Error).message}`);
  const message = (error as Error).message;
  const where = stageMentionedIn(message, pipeline);
  return new PipelineRefused(where ? `stage ${String(where.stage)} (${where.operator}): ${message}` : `the pipeline cannot run: ${message}`, where);
}
