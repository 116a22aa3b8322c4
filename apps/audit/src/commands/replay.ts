import { AuditModel, SaleCounts } from '../audit-model';
import { CommandIo, CommandResult, openLogSource, progressBar, scanLog } from '@flash/runtime';

/** Replay stops before the first event past this point. */
export type ReplayBound = { readonly position: number } | { readonly time: number };

export interface ReplayOptions {
  readonly dataDir: string;
  readonly until: ReplayBound;
  readonly saleId?: string;
}

export interface ReplayReport {
  readonly until: { readonly position: number } | { readonly time: string };
  /** Position of the last event folded (0 when the bound is before the first event). */
  readonly position: number;
  readonly events: number;
  readonly sales: SaleCounts[];
}

const isPast = (bound: ReplayBound, e: { position: number; recordedAt: number }): boolean =>
  'position' in bound ? e.position > bound.position : e.recordedAt > bound.time;

/**
 * Point-in-time state: the audit fold, stopped at the first event whose position (or recordedAt) is past the bound.
 * The invariants are not judged here; `verify` does that.
 */
export const replayCommand = async (options: ReplayOptions, io: CommandIo): Promise<CommandResult> => {
  const source = await openLogSource(options.dataDir, io.env);
  try {
    const head = await source.reader.headPosition();
    const upTo = 'position' in options.until ? Math.min(head, options.until.position) : head;
    const model = new AuditModel(options.saleId === undefined ? {} : { saleId: options.saleId });
    const progress = progressBar(io, 'replay', upTo);
    pages: for await (const page of scanLog(source.reader, upTo)) {
      for (const e of page) {
        if (isPast(options.until, e)) break pages;
        model.applyLogged(e);
      }
      progress.update(model.events, model.position);
    }
    progress.finish();
    const report: ReplayReport = {
      until: 'position' in options.until ? { position: options.until.position } : { time: new Date(options.until.time).toISOString() },
      position: model.position,
      events: model.events,
      sales: model.counts(),
    };
    return { exitCode: 0, report };
  } finally {
    await source.close();
  }
};
