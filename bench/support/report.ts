import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type TargetKind = 'ratio-at-least' | 'ratio-at-most' | 'value-below' | 'value-at-least';

export interface Target {
  readonly kind: TargetKind;
  readonly threshold: number;
  /** As printed: "≥ 0.8×", "< 25 ms". */
  readonly text: string;
}

/** A second figure a row is judged on, beside its first (row 2 against bare Fastify, row 6's rebuild, row 7 with Redis). */
export interface AlsoJudged {
  /** As printed after the figure: "vs bare Fastify", "rebuild". */
  readonly label: string;
  readonly value: number | null;
  readonly ratio: number | null;
  readonly target: Target;
  /** null when the figure could not be measured in this run (`missing` says why). */
  readonly pass: boolean | null;
  readonly missing?: string;
}

/** Server CPU time per answered request (or per decision, per event) over the row's timed window. */
export interface CpuCost {
  readonly us: number;
  /** What one unit is: "201", "409", "decision", "event". */
  readonly per: string;
}

export interface RowResult {
  readonly id: number;
  readonly key: string;
  readonly title: string;
  /** What `value` measures, with its unit: "409 answers/s", "p99 ms". */
  readonly metric: string;
  readonly value: number | null;
  readonly baseline?: { readonly label: string; readonly value: number | null };
  /** value / baseline, when the target is a ratio. */
  readonly ratio: number | null;
  readonly target: Target;
  /** null when the row (or its comparison) was skipped. */
  readonly pass: boolean | null;
  readonly skipped?: string;
  /** Issue #23: every row reports the server CPU µs per answered request; null when the row has no such figure. */
  readonly cpu?: CpuCost | null;
  /** Further figures with targets of their own; `pass` is true only when the first figure and all of these pass. */
  readonly also?: readonly AlsoJudged[];
  readonly notes: readonly string[];
  readonly details: Record<string, unknown>;
}

/** µs of CPU per unit from cores busy over a window and units per second. */
export const cpuCost = (cores: number, perSecond: number, per: string): CpuCost | null =>
  perSecond > 0 ? { us: (cores * 1e6) / perSecond, per } : null;

/**
 * The row's verdict over its first figure and its `also` figures: a MISS when any misses; otherwise unjudged (null)
 * when any was not measured, so a row never shows PASS on the figures it happened to take.
 */
export const judgeAll = (first: boolean | null, also: readonly AlsoJudged[]): boolean | null => {
  const verdicts = [first, ...also.map((a) => a.pass)];
  if (verdicts.includes(false)) return false;
  return verdicts.includes(null) ? null : true;
};

export const alsoJudged = (label: string, target: Target, value: number | null, ratio: number | null, missing?: string): AlsoJudged => ({
  label,
  value,
  ratio,
  target,
  pass: missing === undefined ? judge(target, value, ratio) : null,
  ...(missing === undefined ? {} : { missing }),
});

export const judge = (target: Target, value: number | null, ratio: number | null): boolean | null => {
  switch (target.kind) {
    case 'ratio-at-least':
      return ratio === null ? null : ratio >= target.threshold;
    case 'ratio-at-most':
      return ratio === null ? null : ratio <= target.threshold;
    case 'value-below':
      return value === null ? null : value < target.threshold;
    case 'value-at-least':
      return value === null ? null : value >= target.threshold;
  }
};

export const skippedRow = (id: number, key: string, title: string, metric: string, target: Target, reason: string): RowResult => ({
  id,
  key,
  title,
  metric,
  value: null,
  ratio: null,
  target,
  pass: null,
  skipped: reason,
  notes: [],
  details: {},
});

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly kernel: string;
  readonly date: string;
  readonly placement: string;
  readonly postgres?: string;
}

export const machineInfo = (placement: string): MachineInfo => {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  let nproc = os.cpus().length;
  try {
    // --all: this process is pinned to one core by now, and plain nproc would count only that one.
    nproc = Number(execSync('nproc --all', { encoding: 'utf8' }).trim());
  } catch {
    // keep Node's count
  }
  return {
    nproc,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    placement,
  };
};

const fmt = (n: number | null, digits = 0): string => {
  if (n === null) return '—';
  if (Math.abs(n) >= 100 || digits === 0) return Math.round(n).toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
};

const figure = (value: number | null): string => (value === null ? '—' : fmt(value, value < 100 ? 2 : 0));

const alsoFigure = (a: AlsoJudged): string => {
  if (a.missing !== undefined) return `${a.label}: not measured (${a.missing})`;
  return a.ratio !== null ? `${a.label} ${a.ratio.toFixed(2)}×` : `${a.label} ${figure(a.value)}`;
};

const cells = (r: RowResult): string[] => {
  const measured = r.value === null ? '—' : `${figure(r.value)} ${r.metric}`;
  const baseline = r.baseline ? `${figure(r.baseline.value)} (${r.baseline.label})` : '';
  const also = r.also ?? [];
  const ratio = [...(r.ratio === null ? [] : [`${r.ratio.toFixed(2)}×`]), ...also.map(alsoFigure)].join('; ');
  const target = [r.target.text, ...also.map((a) => `${a.label} ${a.target.text}`)].join('; ');
  const cpu = r.cpu ? `${fmt(r.cpu.us, r.cpu.us < 100 ? 1 : 0)} µs/${r.cpu.per}` : '—';
  const result = r.skipped !== undefined && r.pass === null ? `SKIPPED: ${r.skipped}` : r.pass === null ? 'n/a' : r.pass ? 'PASS' : 'MISS';
  return [String(r.id), r.title, measured, cpu, baseline, ratio, target, result];
};

const HEADER = ['#', 'row', 'measured', 'server CPU', 'baseline', 'ratio', 'target', 'result'];

/** The plain-text table printed on stdout. */
export const textTable = (rows: readonly RowResult[]): string => {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((v, c) => v.padEnd(widths[c] ?? 0)).join(' | ');
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map((r) => line(cells(r)))].join('\n');
};

export interface BenchReport {
  readonly mode: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly rows: readonly RowResult[];
  readonly warnings: readonly string[];
}

export const markdown = (report: BenchReport): string => {
  const m = report.machine;
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  const notes = report.rows.flatMap((r) => [...(r.skipped !== undefined ? [`SKIPPED: ${r.skipped}`] : []), ...r.notes].map((n) => `- row ${r.id}: ${n}`));
  return [
    `# Benchmark results (${report.mode} mode)`,
    '',
    `Reproduce: \`${report.command}\` (quick check: \`npm run bench -- --quick\`).`,
    '',
    '| machine | |',
    '| --- | --- |',
    `| nproc | ${m.nproc} |`,
    `| CPU | ${escape(m.cpuModel)} |`,
    `| Node.js | ${m.node} |`,
    `| kernel | ${escape(m.kernel)} |`,
    `| date | ${m.date} |`,
    `| placement | ${escape(m.placement)} |`,
    ...(m.postgres ? [`| PostgreSQL | ${escape(m.postgres)} |`] : []),
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map(() => '---').join(' | ')} |`,
    ...report.rows.map((r) => `| ${cells(r).map(escape).join(' | ')} |`),
    '',
    ...(notes.length > 0 ? ['Notes:', '', ...notes, ''] : []),
    ...(report.warnings.length > 0 ? ['Warnings:', '', ...report.warnings.map((w) => `- ${w}`), ''] : []),
    'Every figure comes from one run of the harness; `results.json` beside this file has the details (status counts, CPU shares of',
    'server, load generator and everything else per window, latency percentiles, the replay verdict).',
    '',
  ].join('\n');
};

export const writeReport = (dir: string, report: BenchReport): { json: string; md: string } => {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'results.json');
  const md = path.join(dir, 'RESULTS.md');
  fs.writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(md, markdown(report));
  return { json, md };
};
