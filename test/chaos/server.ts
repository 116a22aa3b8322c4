import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/free-port';

/**
 * The build the chaos suite runs: `dist/` (what `npm run build` made), or CHAOS_DIST_DIR — long mode (`npm run chaos`)
 * runs a private copy of the fresh build, so a rebuild in the same checkout during a long run cannot pull the
 * server or the audit CLI from under it.
 */
export const distRoot = (): string => path.resolve(process.env.CHAOS_DIST_DIR || path.resolve(__dirname, '../../dist'));
export const apiMain = (): string => path.join(distRoot(), 'apps/api/src/main.js');
export const auditCli = (): string => path.join(distRoot(), 'apps/audit/src/main.js');

/**
 * The built server as a child process on a free port with its own DATA_DIR, as test/e2e/support/server.ts starts it
 * (same environment defaults), from `distRoot()`. The port is kept across restarts, so clients reconnect to it.
 */
export class ChaosServer {
  private child: ChildProcess | undefined;
  private output = '';
  readonly jwtSecret = 'chaos-secret-' + Math.random().toString(36).slice(2);
  readonly webhookSecret = 'chaos-webhook-' + Math.random().toString(36).slice(2);
  readonly dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-chaos-'));
  port = 0;

  constructor(private readonly env: Record<string, string> = {}) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get logs(): string {
    return this.output;
  }

  async start(): Promise<void> {
    const main = apiMain();
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm test does)`);
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error('the previous server process is still running');
    if (this.port === 0) this.port = await freePort();
    this.output = '';
    this.child = spawn(process.execPath, [main], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(this.port),
        HOST: '127.0.0.1',
        DATA_DIR: this.dataDir,
        JWT_SECRET: this.jwtSecret,
        PAYMENT_WEBHOOK_SECRET: this.webhookSecret,
        DEMO: '0',
        LOG_LEVEL: 'warn',
        ACCESS_LIMITS: 'off',
        SHED_EVENT_LOOP_DELAY_MS: '5000',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`server exited during start:\n${this.output}`);
      try {
        if ((await fetch(`${this.baseUrl}/health/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server not ready after 30 s:\n${this.output}`);
  }

  /** Sends a signal and resolves with the exit code (or the signal that ended it). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | NodeJS.Signals> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? 0;
    const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig as NodeJS.Signals))));
    child.kill(signal);
    return exited;
  }

  kill(): Promise<number | NodeJS.Signals> {
    return this.stop('SIGKILL');
  }

  cleanup(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
