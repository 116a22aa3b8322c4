import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RUN = path.resolve(__dirname, '../../dist/bench/run.js');

interface Row {
  readonly id: number;
  readonly value: number | null;
  readonly skipped?: string;
  readonly baseline?: { readonly value: number | null };
}

const runHarness = (args: string[]): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });

/** Proves the benchmark harness runs end to end; it asserts that every row reports, never how fast anything is. */
describe('benchmark harness (npm run bench -- --smoke)', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-bench-smoke-'));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('reports every row with a figure or an explicit skip reason', async () => {
    if (!fs.existsSync(RUN)) throw new Error(`${RUN} is missing: run "npm run build" first (npm test does)`);
    const { code, output } = await runHarness(['--smoke', '--out', out]);
    if (code !== 0) throw new Error(`the harness exited ${String(code)}:\n${output.slice(-4000)}`);

    const report = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { rows: Row[]; machine: { nproc: number } };
    expect(report.rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const row of report.rows) {
      if (row.skipped !== undefined) {
        expect(row.skipped.trim().length).toBeGreaterThan(0);
      } else {
        expect({ row: row.id, measured: (row.value ?? 0) > 0 }).toEqual({ row: row.id, measured: true });
        if (row.baseline) expect({ row: row.id, baseline: (row.baseline.value ?? 0) > 0 }).toEqual({ row: row.id, baseline: true });
      }
    }
    expect(report.machine.nproc).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, 'RESULTS.md'), 'utf8')).toContain('| # | row |');
  }, 90_000);
});
