import fs from 'node:fs';
import path from 'node:path';
import { generateLog } from '../replay/generate-log';
import { BenchContext } from '../support/context';
import { waitForQuiet } from '../support/cpu';
import { progress } from '../support/log';
import { makeTempDir, NodeProcess } from '../support/processes';
import { summarizeProfile } from '../support/profile';
import { alsoJudged, cpuCost, judge, judgeAll, RowResult, Target } from '../support/report';

const TARGET: Target = { kind: 'value-at-least', threshold: 200_000, text: '≥ 200k events/s' };
/** Issue #23: the projection rebuild as fast as the audit. */
const REBUILD_TARGET: Target = { kind: 'value-at-least', threshold: 200_000, text: '≥ 200k events/s' };

interface Replayed {
  readonly how: string;
  readonly events: number;
  readonly wallSeconds: number;
  readonly eventsPerSecond: number;
  readonly details: Record<string, unknown>;
}

/** Runs a CLI to completion on the SUT core; with --profile under --cpu-prof, summarised like the servers. */
const runOnSutCore = async (ctx: BenchContext, label: string, script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> => {
  const cpuProfDir = ctx.profileDir ? path.join(ctx.profileDir, `row6-${label.replace(/\W+/g, '-')}`) : undefined;
  if (cpuProfDir) fs.mkdirSync(cpuProfDir, { recursive: true });
  const run = await new NodeProcess({ label, script, args, env: {}, placement: ctx.placement, ...(cpuProfDir ? { cpuProfDir } : {}) }).run();
  const summary = cpuProfDir ? summarizeProfile(cpuProfDir, `row 6 ${label}`) : undefined;
  if (summary && cpuProfDir) {
    fs.writeFileSync(path.join(cpuProfDir, 'summary.txt'), summary.text + '\n');
    ctx.profiles.push(summary);
    process.stderr.write(summary.text + '\n');
  }
  return run;
};

/** (a) the audit CLI's verify over the whole log, timed end to end (process start included). */
const auditVerify = async (ctx: BenchContext, dataDir: string): Promise<Replayed | string> => {
  const cli = path.join(ctx.dist, 'apps/audit/src/main.js');
  if (!fs.existsSync(cli)) return 'the audit CLI is not built (dist/apps/audit/src/main.js missing)';
  await waitForQuiet(progress);
  progress('row 6: audit verify');
  const run = await runOnSutCore(ctx, 'audit verify', cli, ['verify', '--data-dir', dataDir]);
  if (run.code !== 0 && run.code !== 1) return `audit verify exited ${String(run.code)}: ${run.stderr.trim().slice(0, 300)}`;
  let report: { ok?: boolean; events?: number; sales?: { violations?: unknown[] }[] };
  try {
    report = JSON.parse(run.stdout) as typeof report;
  } catch {
    return `audit verify printed no JSON report: ${run.stdout.slice(0, 200)}`;
  }
  const events = report.events ?? 0;
  const violations = (report.sales ?? []).reduce((n, s) => n + (s.violations?.length ?? 0), 0);
  return {
    how: 'audit CLI `verify --data-dir DIR` (every invariant at every prefix), wall time including process start',
    events,
    wallSeconds: run.wallMs / 1000,
    eventsPerSecond: events / (run.wallMs / 1000),
    details: { ok: report.ok, violations, exitCode: run.code },
  };
};

/** (b) a plain fold with the domain deciders over readAll pages (bench/replay/fold.ts). */
const fold = async (ctx: BenchContext, dataDir: string): Promise<Replayed | string> => {
  await waitForQuiet(progress);
  progress('row 6: fold with the domain deciders');
  const run = await runOnSutCore(ctx, 'fold', path.join(ctx.dist, 'bench/replay/fold.js'), [dataDir]);
  if (run.code !== 0) return `fold exited ${String(run.code)}: ${run.stderr.trim().slice(0, 300)}`;
  const out = JSON.parse(run.stdout) as { events: number; seconds: number; sales: number; buyers: number; shards: number };
  return {
    how: 'fold over SqliteEventStore.readAll pages with the domain deciders (bench/replay/fold.ts), wall time including process start',
    events: out.events,
    wallSeconds: run.wallMs / 1000,
    eventsPerSecond: out.events / (run.wallMs / 1000),
    details: { inProcessSeconds: out.seconds, inProcessEventsPerSecond: Math.round(out.events / out.seconds), sales: out.sales, buyers: out.buyers, shards: out.shards },
  };
};

/** (c) the projections CLI rebuilding the analytics read model into a fresh generation (SQLite documents). */
const projectionRebuild = async (ctx: BenchContext, dataDir: string): Promise<Replayed | string> => {
  const cli = path.join(ctx.dist, 'apps/projections/src/main.js');
  if (!fs.existsSync(cli)) return 'the projections CLI is not built (dist/apps/projections/src/main.js missing)';
  await waitForQuiet(progress);
  progress('row 6: projection rebuild (analytics)');
  const run = await runOnSutCore(ctx, 'projection rebuild', cli, ['rebuild', 'analytics', '--data-dir', dataDir]);
  if (run.code !== 0) return `projection rebuild exited ${String(run.code)}: ${run.stderr.trim().slice(0, 300)}`;
  // `events` as the CLI counted them: a position is not a count on a store with sparse positions (EventStoreDB).
  const report = JSON.parse(run.stdout) as { position: number; events: number; generation: number; elapsedMs: number };
  return {
    how: 'projections CLI `rebuild analytics --data-dir DIR` into the embedded SQLite read models, wall time including process start',
    events: report.events,
    wallSeconds: run.wallMs / 1000,
    eventsPerSecond: report.events / (run.wallMs / 1000),
    details: { generation: report.generation, inProcessSeconds: report.elapsedMs / 1000, inProcessEventsPerSecond: Math.round(report.events / (report.elapsedMs / 1000)) },
  };
};

/** Row 6: replay speed over a generated log of `mode.replayEvents` events. */
export const replayRow = async (ctx: BenchContext): Promise<RowResult> => {
  const dataDir = makeTempDir('flash-bench-replay-');
  try {
    progress(`row 6: generating a log of ${ctx.mode.replayEvents.toLocaleString('en-US')} events`);
    const log = await generateLog(dataDir, ctx.mode.replayEvents, (n) => progress(`row 6: ${n.toLocaleString('en-US')} events written`));
    progress(`row 6: ${log.events.toLocaleString('en-US')} events written in ${log.seconds.toFixed(1)} s`);
    const audit = await auditVerify(ctx, dataDir);
    const folded = await fold(ctx, dataDir);
    const rebuilt = await projectionRebuild(ctx, dataDir);
    const primary = typeof audit === 'string' ? folded : audit;
    const notes: string[] = [];
    if (typeof audit === 'string') notes.push(`audit CLI not used: ${audit}; measured the fold instead`);
    else if (audit.details.ok !== true) notes.push(`the audit reported ${String(audit.details.violations)} violations on the generated log`);
    if (typeof folded !== 'string' && typeof audit !== 'string') {
      notes.push(`for comparison, a plain decider fold: ${Math.round(folded.eventsPerSecond).toLocaleString('en-US')} events/s`);
    }
    if (typeof rebuilt === 'string') notes.push(`projection rebuild not measured: ${rebuilt}`);
    else notes.push(`projection rebuild (analytics, SQLite documents): ${Math.round(rebuilt.eventsPerSecond).toLocaleString('en-US')} events/s`);
    if (typeof primary === 'string') {
      return { id: 6, key: 'replay', title: 'replay', metric: 'events/s', value: null, ratio: null, target: TARGET, pass: null, skipped: primary, notes, details: {} };
    }
    progress(`row 6: ${Math.round(primary.eventsPerSecond).toLocaleString('en-US')} events/s`);
    const rebuild =
      typeof rebuilt === 'string'
        ? alsoJudged('rebuild', REBUILD_TARGET, null, null, rebuilt)
        : alsoJudged('rebuild', REBUILD_TARGET, rebuilt.eventsPerSecond, null);
    return {
      id: 6,
      key: 'replay',
      title: `replay of ${log.events.toLocaleString('en-US')} events (${typeof audit === 'string' ? 'decider fold' : 'audit verify'})`,
      metric: 'events/s',
      value: primary.eventsPerSecond,
      ratio: null,
      target: TARGET,
      also: [rebuild],
      pass: judgeAll(judge(TARGET, primary.eventsPerSecond, null), [rebuild]),
      // A one-thread CLI pinned to the SUT core from start to exit: its wall time per event is its CPU per event, at most.
      cpu: cpuCost(1, primary.eventsPerSecond, 'event (wall, one core)'),
      notes: [primary.how, ...notes],
      details: {
        log,
        primary: { ...primary },
        ...(typeof audit === 'string' ? { auditSkipped: audit } : {}),
        ...(typeof folded === 'string' ? { foldFailed: folded } : { fold: folded }),
        ...(typeof rebuilt === 'string' ? { rebuildFailed: rebuilt } : { projectionRebuild: rebuilt }),
      },
    };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
};
