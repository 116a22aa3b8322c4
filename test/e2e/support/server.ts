import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/free-port';

const MAIN = path.resolve(__dirname, '../../../dist/apps/api/src/main.js');

export interface ServerOptions {
  readonly dataDir?: string;
  readonly env?: Record<string, string>;
  /** The built entry point to run; `dist/apps/api/src/main.js` unless told (the chaos suite's long mode runs a copy). */
  readonly main?: string;
  /** Prefix of the generated secrets and data dir, so a leftover says which suite made it. */
  readonly label?: string;
}

/**
 * Starts the built server with exactly this environment (plus PATH) and waits for it to exit by itself, as a start
 * refused for its configuration does. A server still running at the deadline is killed and reported.
 */
export const runUntilExit = async (env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number | null; output: string }> => {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first (npm test does)`);
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  if (code === null) throw new Error(`the server was still running after ${timeoutMs} ms:\n${output}`);
  return { code, output };
};

/** The built server as a child process on a free port with its own DATA_DIR: what a user runs. */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private output = '';
  readonly jwtSecret: string;
  readonly webhookSecret: string;
  port = 0;
  readonly dataDir: string;

  constructor(private readonly options: ServerOptions = {}) {
    const label = options.label ?? 'e2e';
    // With DEMO=0 the server refuses keys shorter than 32 bytes.
    this.jwtSecret = `${label}-secret-${randomBytes(16).toString('hex')}`;
    this.webhookSecret = `${label}-webhook-${randomBytes(16).toString('hex')}`;
    this.dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `flash-${label}-`));
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get logs(): string {
    return this.output;
  }

  /** Starts the server; `env` is laid over the options' env for this run only (a restart with other settings). */
  async start(env: Record<string, string> = {}): Promise<void> {
    const main = this.options.main ?? MAIN;
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm test does)`);
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error('the previous server process is still running: stop it first');
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
        // Every test client is 127.0.0.1, and the load generator shares the server's two cores: the frequency
        // limits and event-loop shedding are on only where a test asks for them (access.e2e-spec.ts).
        ACCESS_LIMITS: 'off',
        SHED_EVENT_LOOP_DELAY_MS: '5000',
        ...this.options.env,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    await this.waitReady();
  }

  private async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null) throw new Error(`server exited during start:\n${this.output}`);
      try {
        const res = await fetch(`${this.baseUrl}/health/ready`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server not ready after ${timeoutMs} ms:\n${this.output}`);
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
