import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RUN = path.resolve(__dirname, '../../dist/bench/run.js');

interface Row {
  readonly id: number;
  readonly title: string;
  readonly value: number | null;
  readonly ratio: number | null;
  readonly pass: boolean | null;
  readonly skipped?: string;
  readonly target: { readonly kind: 'ratio-at-least' | 'ratio-at-most' | 'value-below' | 'value-at-least' };
  readonly baseline?: { readonly label: string; readonly value: number | null };
  readonly cpu?: { readonly us: number; readonly per: string } | null;
  readonly also?: ReadonlyArray<{ readonly label: string; readonly value: number | null; readonly pass: boolean | null; readonly missing?: string }>;
  readonly notes: readonly string[];
  readonly details: Record<string, unknown>;
}

/**
 * The rows allowed to skip in smoke mode, and why: none (bench/settings.ts gives smoke mode a small scale row). Every
 * row must run and produce its figure; a missing service (PostgreSQL for rows 2, 8 and 10, redis-server for rows 4 and 10)
 * is a failure here, never a skip.
 */
const EXPECTED_SKIPS_IN_SMOKE: Readonly<Record<number, string>> = {};
const ROWS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
/** Issue #23: every row reports its server CPU per answered request, except the restart row (it answers none). */
const ROWS_WITHOUT_CPU = new Set([9]);

const runHarness = (args: string[]): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });

const isFigure = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

/** What is wrong with one row of a smoke run: empty when it ran (or skipped exactly as expected) and produced its figures. */
const problemsOf = (row: Row): string[] => {
  const expectedSkip = EXPECTED_SKIPS_IN_SMOKE[row.id];
  if (expectedSkip !== undefined) {
    return row.skipped === expectedSkip && row.value === null ? [] : [`row ${row.id} should skip with "${expectedSkip}", got ${JSON.stringify({ skipped: row.skipped, value: row.value })}`];
  }
  const problems: string[] = [];
  if (row.skipped !== undefined) problems.push(`row ${row.id} skipped: ${row.skipped}`);
  if (!isFigure(row.value)) problems.push(`row ${row.id} measured no figure (value ${String(row.value)})`);
  if (row.pass === null) problems.push(`row ${row.id} was not judged against its target`);
  if (!ROWS_WITHOUT_CPU.has(row.id) && !isFigure(row.cpu?.us)) problems.push(`row ${row.id} reports no server CPU per request (${JSON.stringify(row.cpu)})`);
  for (const also of row.also ?? []) {
    if (also.missing !== undefined || also.pass === null) problems.push(`row ${row.id}: "${also.label}" was not measured (${also.missing ?? 'not judged'})`);
  }
  // A row fails when any of its figures does: its verdict is never better than its second figure's.
  if ((row.also ?? []).some((a) => a.pass === false) && row.pass !== false) problems.push(`row ${row.id} passes though "${row.also?.find((a) => a.pass === false)?.label}" misses`);
  if (row.target.kind === 'ratio-at-least') {
    if (!isFigure(row.baseline?.value)) problems.push(`row ${row.id} measured no baseline (${JSON.stringify(row.baseline)})`);
    if (!isFigure(row.ratio)) problems.push(`row ${row.id} has no ratio (${String(row.ratio)})`);
    else if (isFigure(row.value) && isFigure(row.baseline?.value) && Math.abs(row.ratio - row.value / row.baseline.value) > 1e-9 * row.ratio) {
      problems.push(`row ${row.id}: ratio ${row.ratio} is not value / baseline = ${row.value / row.baseline.value}`);
    }
  }
  return problems;
};

/** Proves the benchmark harness runs end to end; it asserts that every row produced its figures, never how fast anything is. */
/** Whether the harness can pin processes to cores (bench/support/processes.ts: taskset and at least two cores). */
const hasTaskset = (): boolean => os.cpus().length >= 2 && spawnSync('taskset', ['-p', String(process.pid)]).status === 0;

describe('benchmark harness (npm run bench -- --smoke)', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-bench-smoke-'));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('runs every row that smoke mode runs, each with its figure (and baseline and ratio where its target is one), and skips none', async () => {
    if (!fs.existsSync(RUN)) throw new Error(`${RUN} is missing: run "npm run build" first (npm test does)`);
    const { code, output } = await runHarness(['--smoke', '--out', out]);
    if (code !== 0) throw new Error(`the harness exited ${String(code)}:\n${output.slice(-4000)}`);

    const report = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { mode: string; rows: Row[]; warnings: string[]; machine: { nproc: number } };
    expect(report.mode).toBe('smoke');
    expect(report.rows.map((r) => r.id)).toEqual(ROWS);
    expect(report.warnings).toEqual([]);
    expect(report.rows.flatMap(problemsOf)).toEqual([]);

    // Row 2's baseline is the naive PostgreSQL service; row 6 is the audit CLI over a log it verifies as clean.
    const byId = new Map(report.rows.map((r) => [r.id, r]));
    expect(byId.get(2)?.baseline?.label).toBe('naive PostgreSQL');
    // Its second figure is against row 1's bare Fastify of the same run (issue #23's new ratio).
    const bare = byId.get(1)?.baseline?.value ?? NaN;
    const vsBare = byId.get(2)?.also?.find((a) => a.label === 'vs bare Fastify') as { ratio?: number } | undefined;
    expect(vsBare?.ratio).toBeCloseTo((byId.get(2)?.value ?? NaN) / bare, 9);
    expect(byId.get(6)?.also?.map((a) => a.label)).toEqual(['rebuild']);
    // Row 8's engine wrote its events to a PostgreSQL database of its own, and is compared with row 2's naive window.
    expect(byId.get(8)?.baseline?.label).toBe('naive PostgreSQL');
    expect(byId.get(8)?.details.baselineFromRow2).toBe(true);
    expect(byId.get(8)?.details.eventsAppended).toBeGreaterThan(0);
    // Row 10 compared two replicas with one, each side on a store of its own that held exactly the 201s it answered.
    const replicas = byId.get(10);
    expect(replicas?.baseline?.label).toBe('one replica');
    // The cluster's topology (api replicas and worker processes) whatever --worker the other rows ran with.
    expect(replicas?.details.worker).toBe('external');
    // Where cores can be pinned (taskset, two cores: so in CI), a third side ran the two replicas on a core each: the
    // headline, its ratio the row's; the two on one core reported beside it.
    const headline = hasTaskset() ? 'twoOnACoreEach' : 'two';
    expect(replicas?.details.headline).toBe(headline);
    expect(replicas?.ratio).toBe((replicas?.details[headline] as { ratio?: number } | undefined)?.ratio);
    type SideDetails = { replicas: number; cpuMicrosPerReservation: number; statuses: Record<string, number>; seconds: number; accounting: { reserved: number; problems: string[]; store: { reservations: number } } };
    const ones = replicas?.details.oneWindows as SideDetails[] | undefined;
    const spreads = hasTaskset() ? (replicas?.details.twoOnACoreEach as { windows: SideDetails[] } | undefined)?.windows : [];
    // The windows alternate, the one replica's first and last: A B C A C A where a third side ran the two replicas on
    // a core each, else A B A.
    expect(replicas?.details.order).toEqual(
      hasTaskset()
        ? ['one replica', '2 replicas', '2 replicas, a core each', 'one replica, window 2', '2 replicas, a core each, window 2', 'one replica, window 3']
        : ['one replica', '2 replicas', 'one replica, window 2'],
    );
    for (const d of [...(ones ?? []), replicas?.details.two as SideDetails, ...(spreads ?? [])]) {
      expect(d.accounting.problems).toEqual([]);
      expect(d.cpuMicrosPerReservation).toBeGreaterThan(0);
      expect(d.accounting.reserved).toBeGreaterThan(0);
      expect(d.accounting.store.reservations).toBeGreaterThanOrEqual(d.accounting.reserved);
      // Each kind of process's CPU apart: the apis' the same pids as the side's own figure, the workers and
      // PostgreSQL's backends found and busy (they append and follow every reservation).
      const cpu = (d as { cpuCores?: { sut: number; groups?: Record<string, { cores: number; user: number; system: number }> } }).cpuCores;
      expect(Object.keys(cpu?.groups ?? {})).toEqual(['apis', 'workers', 'postgres', 'redis']);
      expect(Math.abs((cpu?.groups?.apis?.cores ?? NaN) - (cpu?.sut ?? NaN))).toBeLessThanOrEqual(0.05);
      expect(cpu?.groups?.workers?.cores).toBeGreaterThan(0);
      expect(cpu?.groups?.postgres?.cores).toBeGreaterThan(0);
    }
    expect(ones?.map((d) => d.replicas)).toEqual(hasTaskset() ? [1, 1, 1] : [1, 1]);
    expect(spreads?.map((d) => d.replicas)).toEqual(hasTaskset() ? [2, 2] : []);
    // Each side is the mean of its windows: the baseline the one replica's, the headline the two replicas'.
    const mean = (sides: readonly SideDetails[]): number => sides.reduce((sum, d) => sum + (d.statuses['201'] ?? NaN) / d.seconds, 0) / sides.length;
    expect(replicas?.baseline?.value).toBeCloseTo(mean(ones ?? []), 6);
    expect(replicas?.value).toBeCloseTo(mean(hasTaskset() ? (spreads ?? []) : [replicas?.details.two as SideDetails]), 6);
    // The two-replica side's load went to both replicas, and each reserved.
    const perReplica = (replicas?.details.two as { perReplica?: Array<{ statuses: Record<string, number> }> } | undefined)?.perReplica;
    expect(perReplica?.map((r) => (r.statuses['201'] ?? 0) > 0)).toEqual([true, true]);
    const replay = byId.get(6);
    expect(replay?.title).toContain('audit verify');
    expect((replay?.details.primary as { details?: unknown } | undefined)?.details).toMatchObject({ ok: true, violations: 0, exitCode: 0 });
    expect(replay?.notes.filter((n) => /not measured|not used|violations/.test(n))).toEqual([]);

    // Row 9 started the api twice on its generated log: first on the log alone, then on what that run left behind.
    type StartCase = { filesAtStart: Record<string, number>; watch: { readyMs: number | null; firstLiveMs: number | null; peakRssMiB: number }; ended: { died: boolean; code: number | null } };
    const restart = byId.get(9)?.details as { fresh?: StartCase; checkpointed?: StartCase } | undefined;
    expect(Object.keys(restart?.fresh?.filesAtStart ?? {})).toEqual(['events.sqlite']);
    expect(Object.keys(restart?.checkpointed?.filesAtStart ?? {})).toEqual(expect.arrayContaining(['events.sqlite', 'worker.sqlite', 'read-models.sqlite']));
    for (const c of [restart?.fresh, restart?.checkpointed]) {
      expect(c?.ended).toMatchObject({ died: false, code: 0 });
      expect(isFigure(c?.watch.firstLiveMs) && isFigure(c.watch.readyMs) && isFigure(c.watch.peakRssMiB)).toBe(true);
    }

    expect(report.machine.nproc).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, 'RESULTS.md'), 'utf8')).toContain('| # | row |');
  }, 300_000);
});
