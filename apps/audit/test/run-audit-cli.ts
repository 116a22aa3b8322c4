import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const CLI = path.resolve(__dirname, '../../../dist/apps/audit/src/main.js');
export const PROJECTIONS_CLI = path.resolve(__dirname, '../../../dist/apps/projections/src/main.js');

export interface CliRun<Report> {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (undefined when it is empty). */
  readonly report: Report;
}

/**
 * Runs a built CLI (`npm run audit -- …` without npm; `cli` selects another, such as the projections CLI) as a user
 * would, with only the env given. `Report` names what the command prints; the JSON is trusted to be of that shape.
 */
export const runAuditCli = <Report = unknown>(args: readonly string[], env: Record<string, string> = {}, cli = CLI): Promise<CliRun<Report>> => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first (npm test does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      let report: unknown = undefined;
      try {
        report = stdout.trim() === '' ? undefined : JSON.parse(stdout);
      } catch (error) {
        reject(new Error(`stdout is not one JSON document (${String(error)}):\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      resolve({ exitCode, stdout, stderr, report: report as Report });
    });
  });
};
