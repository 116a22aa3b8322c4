import { AuditModel, AuditVerdict, DEFAULT_EXPIRY_GRACE_MS } from '../../../apps/audit/src/audit-model';
import { runAuditCli } from '../../../apps/audit/test/run-audit-cli';
import { EventLogSource, readRecordedLog } from './event-log';

/** What `audit verify` answered: its exit code (0: no invariant broken) and its verdict. */
export interface AuditRun {
  readonly exitCode: number | null;
  readonly report: AuditVerdict;
}

/**
 * `audit verify` on a server's log, beside the running processes. The CLI reads only the embedded SQLite store so far
 * (it refuses a postgres:// EVENTSTORE_URL): for a server on PostgreSQL the CLI step is skipped, and the fold the CLI
 * runs (AuditModel: every invariant at every prefix, then the end-of-log checks at the last recordedAt) is run here
 * over the log read from the server's own database.
 */
export const auditVerify = async (source: EventLogSource): Promise<AuditRun> => {
  if (source.eventStoreUrl === undefined) return runAuditCli<AuditVerdict>(['verify', '--data-dir', source.dataDir]);
  const model = new AuditModel();
  for (const e of await readRecordedLog(source)) model.applyRecorded(e);
  const report = model.verdict({ now: model.lastRecordedAt ?? 0, expiryGraceMs: DEFAULT_EXPIRY_GRACE_MS });
  return { exitCode: report.ok ? 0 : 1, report };
};
