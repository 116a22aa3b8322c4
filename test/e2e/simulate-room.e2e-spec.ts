import { spawn } from 'node:child_process';
import path from 'node:path';

const SIMULATE = path.resolve(__dirname, '../../dist/bench/simulate.js');

const runSimulator = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [SIMULATE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });

/**
 * `npm run simulate -- --room` (issue #26), small: a crowd with a fifth of bots of every class behind the waiting
 * room. No bot of any class gets a reservation, nothing is oversold, and the report gives the wait percentiles as the
 * buyers saw them and as the analytics summary reports them. The simulator exits 1 itself if a bot got through or
 * the sale oversold; the report is checked here as well, class by class.
 */
describe('npm run simulate -- --room', () => {
  it('admits no bot of any class, oversells nothing, and reports the wait percentiles', async () => {
    const run = await runSimulator(['--room', '--buyers', '600', '--stock', '60', '--spike-ms', '1000', '--admit-per-s', '100', '--bot-addresses', '4']);
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as {
      oversold: number;
      botsAdmittedByClass: Record<string, number>;
      reserved: number;
      waitingRoom: { admitted: number; waitMs: Record<string, number>; serverWaitMs: { admitted: number; waitMs: { p50: number; p99: number } } | null };
    };
    expect(report.botsAdmittedByClass).toEqual({ 'no-token': 0, 'borrowed-token': 0, 'borrowed-pow': 0, 'instant-pow': 0 });
    expect(report.oversold).toBe(0);
    expect(report.reserved).toBeGreaterThan(0);
    expect(report.waitingRoom.waitMs).toEqual({ p50: expect.any(Number), p90: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) });
    expect(report.waitingRoom.serverWaitMs?.admitted).toBeGreaterThan(0);
    expect(report.waitingRoom.serverWaitMs?.waitMs.p50).toBeLessThanOrEqual(report.waitingRoom.serverWaitMs?.waitMs.p99 ?? -1);
    expect({ code: run.code, stderr: run.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
  }, 300_000);
});
