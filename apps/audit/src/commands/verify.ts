import { AuditModel, AuditVerdict, DEFAULT_EXPIRY_GRACE_MS } from '../audit-model';
import { CannotRun, CommandIo, CommandResult, openLogSource, progressBar, scanLog } from '@flash/runtime';

export interface VerifyOptions {
  readonly dataDir: string;
  readonly saleId?: string;
  readonly expiryGraceMs?: number;
  /** Judge holds and claims at this instant instead of the log's last recordedAt. */
  readonly now?: number;
}

/**
 * Streams the log once, from the start to the head it had when the audit began, through the audit model; every
 * invariant is checked at every prefix. Exit 1 on any violation.
 */
export const verifyCommand = async (options: VerifyOptions, io: CommandIo): Promise<CommandResult> => {
  const source = await openLogSource(options.dataDir, io.env);
  try {
    const head = await source.reader.headPosition();
    const model = new AuditModel(options.saleId === undefined ? {} : { saleId: options.saleId });
    const progress = progressBar(io, 'verify', head);
    for await (const page of scanLog(source.reader, head)) {
      for (const e of page) model.applyLogged(e);
      progress.update(model.events, model.position);
    }
    progress.finish();
    const verdict: AuditVerdict = model.verdict({
      now: options.now ?? model.lastRecordedAt ?? 0,
      expiryGraceMs: options.expiryGraceMs ?? DEFAULT_EXPIRY_GRACE_MS,
    });
    if (options.saleId !== undefined && verdict.sales.length === 0) throw new CannotRun(`sale ${options.saleId} has no events in the log`);
    return { exitCode: verdict.ok ? 0 : 1, report: verdict };
  } finally {
    await source.close();
  }
};
