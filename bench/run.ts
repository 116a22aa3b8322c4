import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { durableRows, latencyRow, postgresStoreRow } from './rows/durable';
import { filterRow } from './rows/filter';
import { gateRow } from './rows/gate';
import { replayRow } from './rows/replay';
import { restartRow } from './rows/restart';
import { replicasRow } from './rows/replicas';
import { scaleRow } from './rows/scale';
import { ModeSettings, MODES } from './settings';
import { BenchAuth } from './support/buyers';
import { BenchContext } from './support/context';
import { setQuietWait } from './support/cpu';
import { LoadResult } from './support/load';
import { loud, progress } from './support/log';
import { probePostgres } from './support/postgres';
import { detectPlacement, OUT_DIR, pinSelf, REPO_ROOT, snapshotDist } from './support/processes';
import { BenchReport, machineInfo, RowResult, textTable, writeReport } from './support/report';

const USAGE = `usage: npm run bench [-- --quick | --smoke] [--rows 1,2,5] [--profile] [--out DIR]

  (default)   full run: 2 s warm-up + 10 s timed window per throughput row, 1M-event replay and restart, 1M-buyer scale row
  --quick     3 s windows, 100k-event replay and restart, 20k-buyer scale row (about a minute)
  --smoke     1 s windows, 10k-event replay and restart, 2k-buyer scale row: proves the harness works (used by npm test)
  --rows      only these rows (row 5 needs row 2's peak, so 5 runs 2 as well; row 8 reuses row 2's naive
              PostgreSQL window when 2 runs, else measures its own; row 10 runs alone, e.g. --rows 10)
  --profile   run the servers under --cpu-prof and print their top self-time functions (figures not comparable)
  --out DIR   where results.json and RESULTS.md go; default bench/ for a full run of every row, else bench/.out/<mode>
  --worker M  embedded (default) or external: every engine runs with WORKER=M, external ones with a worker process
              beside them (pinned to the same core: the same CPU budget)`;

const ALL_ROWS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

interface Options {
  readonly mode: ModeSettings;
  readonly rows: readonly number[];
  readonly profile: boolean;
  readonly out: string;
  readonly command: string;
  readonly worker: 'embedded' | 'external';
}

const parseOptions = (argv: string[]): Options => {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      rows: { type: 'string' },
      out: { type: 'string' },
      worker: { type: 'string', default: 'embedded' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const mode = values.smoke ? MODES.smoke : values.quick ? MODES.quick : MODES.full;
  if (values.worker !== 'embedded' && values.worker !== 'external') throw new Error(`--worker takes embedded or external, got "${values.worker}"`);
  const rows = values.rows === undefined ? ALL_ROWS : values.rows.split(',').map((r) => Number(r.trim()));
  if (rows.some((r) => !ALL_ROWS.includes(r))) throw new Error(`--rows takes numbers in 1..10, got "${values.rows ?? ''}"`);
  const canonical = mode.name === 'full' && rows.length === ALL_ROWS.length && !values.profile && values.worker === 'embedded';
  const out = path.resolve(values.out ?? (canonical ? path.join(REPO_ROOT, 'bench') : path.join(OUT_DIR, values.profile ? `${mode.name}-profile` : mode.name)));
  const command = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  return { mode, rows, profile: values.profile, out, command, worker: values.worker };
};

const main = async (): Promise<void> => {
  const options = parseOptions(process.argv.slice(2));
  const { mode } = options;
  const placement = detectPlacement();
  if (placement.taskset) pinSelf(placement);
  else loud(placement.note);
  setQuietWait(mode.quietWaitSeconds);
  const dist = snapshotDist();
  const auth = new BenchAuth();
  const ctx: BenchContext = {
    mode,
    placement,
    dist,
    auth,
    profiles: [],
    worker: options.worker,
    ...(options.profile ? { profileDir: path.join(options.out, 'profiles') } : {}),
  };
  if (options.profile) loud('PROFILING: servers run under --cpu-prof; these figures are not comparable with a normal run');
  progress(`${mode.name} mode, rows ${options.rows.join(',')}; ${placement.note}`);
  const wants = (row: number): boolean => options.rows.includes(row);
  const needsPeak = wants(2) || wants(3) || wants(5);
  if (wants(1) || needsPeak || wants(7) || wants(8) || wants(10)) {
    progress(`signing bearer tokens for ${mode.presignedBuyers.toLocaleString('en-US')} buyers`);
    auth.presign(mode.presignedBuyers);
  }

  const rows: RowResult[] = [];
  const warnings: string[] = [];
  const attempt = async (label: string, run: () => Promise<RowResult[]>): Promise<void> => {
    try {
      rows.push(...(await run()));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      loud(`${label} FAILED: ${message.split('\n')[0] ?? ''}`);
      process.stderr.write(`${error instanceof Error ? (error.stack ?? message) : message}\n`);
      warnings.push(`${label} failed: ${message.split('\n')[0] ?? ''}`);
    }
  };

  try {
    let bareFastify: number | undefined;
    if (wants(1)) {
      await attempt('row 1', async () => {
        const row1 = await filterRow(ctx);
        bareFastify = row1.baseline?.value ?? undefined;
        return [row1];
      });
    }
    let peak: number | undefined;
    let row2Naive: LoadResult | undefined;
    if (needsPeak) {
      await attempt('rows 2-3', async () => {
        const durable = await durableRows(ctx, { groupCommitRow: wants(3), ...(bareFastify === undefined ? {} : { bareFastify }) });
        peak = durable.peak;
        row2Naive = durable.naive;
        return durable.row3 ? [durable.row2, durable.row3] : [durable.row2];
      });
    }
    if (wants(4)) await attempt('row 4', async () => [await gateRow(ctx)]);
    if (wants(5) && peak !== undefined) {
      const measuredPeak = peak;
      await attempt('row 5', async () => [await latencyRow(ctx, measuredPeak)]);
    }
    if (wants(6)) await attempt('row 6', async () => [await replayRow(ctx)]);
    if (wants(7)) await attempt('row 7', async () => [await scaleRow(ctx)]);
    if (wants(8)) await attempt('row 8', async () => [await postgresStoreRow(ctx, row2Naive)]);
    if (wants(9)) await attempt('row 9', async () => [await restartRow(ctx)]);
    if (wants(10)) await attempt('row 10', async () => [await replicasRow(ctx)]);
  } finally {
    fs.rmSync(dist, { recursive: true, force: true });
  }

  rows.sort((a, b) => a.id - b.id);
  for (const r of rows) if (r.skipped !== undefined && r.id !== 4) loud(`ROW ${r.id} SKIPPED: ${r.skipped}`);
  const machine = machineInfo(placement.note);
  const pg = await probePostgres();
  const report: BenchReport = {
    mode: mode.name,
    command: options.command,
    machine: { ...machine, ...(typeof pg === 'string' ? {} : { postgres: `${pg.version} (fsync=${pg.fsync}, synchronous_commit=${pg.synchronousCommit})` }) },
    rows,
    warnings,
  };
  const files = writeReport(options.out, report);
  process.stdout.write(`\n${textTable(rows)}\n\n`);
  for (const r of rows) for (const note of r.notes) process.stdout.write(`  row ${r.id}: ${note}\n`);
  for (const w of warnings) process.stdout.write(`  WARNING: ${w}\n`);
  if (ctx.profiles.length > 0) process.stdout.write(`\n${ctx.profiles.map((p) => p.text).join('\n\n')}\n`);
  process.stdout.write(`\nwritten: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.md)}\n`);
  // The harness reports; it never fails on a missed target (speed is not asserted), only when a row could not run.
  process.exitCode = warnings.length > 0 ? 1 : 0;
};

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
