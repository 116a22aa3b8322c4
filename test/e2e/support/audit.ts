import { AuditVerdict } from '../../../apps/audit/src/audit-model';
import { runAuditCli } from '../../../apps/audit/test/run-audit-cli';
import { EventLogSource } from './event-log';

/** What `audit verify` answered: its exit code (0: no invariant broken) and its verdict. */
export interface AuditRun {
  readonly exitCode: number | null;
  readonly report: AuditVerdict;
}

/**
 * `audit verify` on a server's log, beside the running processes: the built CLI, reading the store the server writes
 * (its DATA_DIR, or its PostgreSQL database through the same EVENTSTORE_URL), read-only.
 */
export const auditVerify = (source: EventLogSource): Promise<AuditRun> =>
  runAuditCli<AuditVerdict>(['verify', '--data-dir', source.dataDir], source.eventStoreUrl === undefined ? {} : { EVENTSTORE_URL: source.eventStoreUrl });
