import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type TargetKind = 'ratio-at-least' | 'value-below' | 'value-at-least';

export interface Target {
  readonly kind: TargetKind;
  readonly threshold: number;
  /** As printed: "≥ 0.8×", "< 25 ms". */
  readonly text: string;
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
  readonly notes: readonly string[];
  readonly details: Record<string, unknown>;
}

export const judge = (target: Target, value: number | null, ratio: number | null): boolean | null => {
  switch (target.kind) {
    case 'ratio-at-least':
      return ratio === null ? null : ratio >= target.threshold;
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

const cells = (r: RowResult): string[] => {
  const digits = r.value !== null && r.value < 100 ? 2 : 0;
  const measured = r.value === null ? '—' : `${fmt(r.value, digits)} ${r.metric}`;
  const baseline = r.baseline ? `${r.baseline.value === null ? '—' : fmt(r.baseline.value, r.baseline.value < 100 ? 2 : 0)} (${r.baseline.label})` : '';
  const ratio = r.ratio === null ? '' : `${r.ratio.toFixed(2)}×`;
  const result = r.skipped !== undefined && r.pass === null ? `SKIPPED: ${r.skipped}` : r.pass === null ? 'n/a' : r.pass ? 'PASS' : 'MISS';
  return [String(r.id), r.title, measured, baseline, ratio, r.target.text, result];
};

const HEADER = ['#', 'row', 'measured', 'baseline', 'ratio', 'target', 'result'];

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
