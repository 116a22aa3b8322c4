import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/free-port';
import { createServerDatabase, createServerStandIn, e2eEventStore } from './e2e-event-store';
import { LogLeakCheck } from './log-leaks';

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
  const leaks = new LogLeakCheck();
  leaks.forbid('JWT_SECRET', env.JWT_SECRET);
  leaks.forbid('PAYMENT_WEBHOOK_SECRET', env.PAYMENT_WEBHOOK_SECRET);
  leaks.watch(child.stdout, 'api');
  leaks.watch(child.stderr, 'api');
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  if (code === null) throw new Error(`the server was still running after ${timeoutMs} ms:\n${output}`);
  leaks.assertNone();
  return { code, output };
};

/** What the worker of a server run (WORKER=external) was started with, to know when a new api run needs a new one. */
interface WorkerRun {
  readonly child: ChildProcess;
  readonly env: Record<string, string>;
  readonly exited: Promise<number | NodeJS.Signals>;
}

/** Whether a child process has exited (or been ended by a signal). */
const ended = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** Resolves with the exit code of `child` (or the signal that ended it) once it has exited. */
const exitOf = (child: ChildProcess): Promise<number | NodeJS.Signals> =>
  ended(child)
    ? Promise.resolve(child.exitCode ?? (child.signalCode as NodeJS.Signals))
    : new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig as NodeJS.Signals))));

/** Resolves once the child's stdout and stderr have closed (right after its exit, once the pipes are drained). */
const outputEnded = async (child: ChildProcess): Promise<void> => {
  const open = [child.stdout, child.stderr].filter((stream) => stream !== null && !stream.closed);
  await Promise.all(open.map((stream) => new Promise<void>((resolve) => stream?.once('close', () => resolve()))));
};

/** Which worker a server with WORKER=external runs: the built `npm run worker` beside the api's entry point. */
const workerMainBeside = (apiMain: string): string => path.resolve(path.dirname(apiMain), '../../worker/src/main.js');

/**
 * The built server as a child process on a free port with its own DATA_DIR: what a user runs. When the api runs with
 * WORKER=external (the test's env says so, or else the test process has WORKER=external: the `*-external` jest
 * projects), a companion `npm run worker` process runs beside it with the same environment and DATA_DIR, and is
 * stopped, started and restarted with it. In the `e2e-postgres` jest project both run on a PostgreSQL database of this
 * instance's own (EVENTSTORE_URL), created at its first start and kept across its restarts, dropped when the test file
 * ends (test/support/eventstore-postgres.setup.ts); a test's own EVENTSTORE_URL is left as it is.
 */
export class ServerProcess {
  private child: ChildProcess | undefined;
  /**
   * The store of this instance's runs, once the first start has created it: a PostgreSQL database (the `e2e-postgres`
   * project) or an EventStoreDB stand-in (`e2e-esdb`).
   */
  private databaseUrl: string | undefined;
  private output = '';
  private worker: WorkerRun | undefined;
  private workerOutput = '';
  private standby: WorkerRun | undefined;
  private standbyOutput = '';
  /**
   * Every line the api and its worker print, in every run, is checked for the secrets they were started with, the
   * tokens a test registers (`forbidInLogs`) and anything shaped like a JWT: `stop` (and so `kill`) fails once one
   * appeared, so every e2e and chaos suite checks its whole run.
   */
  private readonly leakCheck = new LogLeakCheck();
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

  /** A value (a token a test sends) that must appear in no line of the server's output. */
  forbidInLogs(name: string, value: string): void {
    this.leakCheck.forbid(name, value);
  }

  /** What the leak check found so far in this instance's runs (empty when nothing leaked). */
  get logLeaks(): readonly string[] {
    return this.leakCheck.leaks;
  }

  /** The secrets of a run, before its process starts. */
  private forbidSecretsOf(env: Record<string, string>): void {
    this.leakCheck.forbid('JWT_SECRET', env.JWT_SECRET);
    this.leakCheck.forbid('PAYMENT_WEBHOOK_SECRET', env.PAYMENT_WEBHOOK_SECRET);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What the api printed in its current run, then (when one runs) what its worker printed in its current run. */
  get logs(): string {
    return this.worker === undefined ? this.output : `${this.output}\n--- worker (pid ${this.worker.child.pid}) output ---\n${this.workerOutput}`;
  }

  /** What the worker printed in its current run ('' when none runs). */
  get workerLogs(): string {
    return this.workerOutput;
  }

  /**
   * Where the server's event store is, for a reader beside it: the PostgreSQL URL its runs are given (the
   * `e2e-postgres` project, or the test's own EVENTSTORE_URL), else undefined (SQLite in `dataDir`).
   */
  get eventStoreUrl(): string | undefined {
    return this.runEnv({}).EVENTSTORE_URL || undefined;
  }

  /** Whether a run with the options' env has the api on WORKER=external beside a worker process (`start(env)` may say otherwise). */
  get runsWorker(): boolean {
    return this.runEnv({}).WORKER === 'external';
  }

  /** Whether a companion worker process is running now. */
  get workerRunning(): boolean {
    return this.worker !== undefined && !ended(this.worker.child);
  }

  /** The environment of a run: the defaults, the options' env, then `env` (this run only). */
  private runEnv(env: Record<string, string>): Record<string, string> {
    const merged = { ...this.options.env, ...env };
    // Mode of the run: the test's own env first, else the test process's (the `*-external` jest projects).
    const external = (merged.WORKER ?? process.env.WORKER) === 'external';
    return {
      PATH: process.env.PATH ?? '',
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
      ...(external ? { WORKER: 'external' } : {}),
      ...(this.databaseUrl === undefined ? {} : { EVENTSTORE_URL: this.databaseUrl }),
      ...merged,
    };
  }

  /**
   * Starts the server; `env` is laid over the options' env for this run only (a restart with other settings). With
   * WORKER=external the worker is started too once the api is ready — or restarted, when it died or ran with other
   * settings; a worker still running with the same settings (the api alone was killed) is left running.
   */
  async start(env: Record<string, string> = {}): Promise<void> {
    const main = this.options.main ?? MAIN;
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm test does)`);
    if (this.child && !ended(this.child)) throw new Error('the previous server process is still running: stop it first');
    if (this.port === 0) this.port = await freePort();
    const ownStore = { ...this.options.env, ...env }.EVENTSTORE_URL !== undefined;
    if (e2eEventStore() === 'postgres' && this.databaseUrl === undefined && !ownStore) this.databaseUrl = (await createServerDatabase()).url;
    if (e2eEventStore() === 'esdb' && this.databaseUrl === undefined && !ownStore) this.databaseUrl = await createServerStandIn();
    const runEnv: Record<string, string> = { ...this.runEnv(env), PORT: String(this.port) };
    this.output = '';
    this.forbidSecretsOf(runEnv);
    this.child = spawn(process.execPath, [main], { env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.leakCheck.watch(this.child.stdout, 'api');
    this.leakCheck.watch(this.child.stderr, 'api');
    try {
      if (runEnv.WORKER === 'external') {
        // Once the api listens it has opened (or created) the store; the worker opens it after that. The api is ready
        // only once the worker's projection has caught up, so the worker must run before the api can be ready.
        await this.waitAnswers('/health/live');
        await this.ensureWorker(runEnv);
      } else {
        await this.stopWorker();
      }
      await this.waitAnswers('/health/ready');
    } catch (error) {
      // A half-started pair leaves nothing behind to hold the data dir or a port.
      await this.stop('SIGKILL', { worker: true });
      throw error;
    }
  }

  /** The worker of this run: kept when it runs with these settings, else (re)started; resolves once it runs. */
  private async ensureWorker(env: Record<string, string>): Promise<void> {
    const { PORT: _port, ...workerEnv } = env;
    const same = this.worker !== undefined && JSON.stringify(this.worker.env) === JSON.stringify(workerEnv);
    if (this.workerRunning && same) return;
    await this.stopWorker();
    await this.startWorker(workerEnv);
  }

  /** Starts a worker with `env` and waits for its "worker running" line (logged at info: its level is lowered to that when higher). */
  private async startWorker(env: Record<string, string>): Promise<void> {
    this.workerOutput = '';
    this.worker = await this.spawnWorker(env, (text) => (this.workerOutput += text), () => this.logs);
  }

  private async spawnWorker(env: Record<string, string>, onOutput: (text: string) => void, logs: () => string, timeoutMs = 30_000): Promise<WorkerRun> {
    const main = workerMainBeside(this.options.main ?? MAIN);
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first (npm test does)`);
    const level = ['warn', 'error', 'fatal', 'silent'].includes(env.LOG_LEVEL ?? '') ? 'info' : env.LOG_LEVEL!;
    const child = spawn(process.execPath, [main], { env: { ...env, LOG_LEVEL: level }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer): void => {
      output += d.toString();
      onOutput(d.toString());
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    this.forbidSecretsOf(env);
    this.leakCheck.watch(child.stdout, 'worker');
    this.leakCheck.watch(child.stderr, 'worker');
    const deadline = Date.now() + timeoutMs;
    while (!output.includes('worker running')) {
      if (ended(child)) throw new Error(`worker exited during start:\n${logs()}`);
      if (Date.now() > deadline) throw new Error(`worker not running after ${timeoutMs} ms:\n${logs()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { child, env, exited: exitOf(child) };
  }

  /**
   * A second worker with the settings of the running one, standing by for its jobs: it takes each over when the
   * first one's lease on it ends (WORKER_LEASE_MS after a crash; at once after a clean stop).
   */
  async startStandbyWorker(): Promise<void> {
    if (this.worker === undefined || !this.workerRunning) throw new Error('start the server with WORKER=external first: the standby stands by for its worker');
    if (this.standby !== undefined && !ended(this.standby.child)) throw new Error('a standby worker runs already');
    this.standbyOutput = '';
    this.standby = await this.spawnWorker(this.worker.env, (text) => (this.standbyOutput += text), () => `${this.logs}\n--- standby worker ---\n${this.standbyOutput}`);
  }

  /** What the standby worker printed ('' when none ran). */
  get standbyLogs(): string {
    return this.standbyOutput;
  }

  private async stopStandby(signal: NodeJS.Signals): Promise<number | NodeJS.Signals> {
    const run = this.standby;
    if (run === undefined) return 0;
    if (!ended(run.child)) run.child.kill(signal);
    return run.exited;
  }

  /** Polls `probe` (/health/live: listening; /health/ready: ready) until it answers 200. */
  private async waitAnswers(probe: '/health/live' | '/health/ready', timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null) throw new Error(`server exited during start:\n${this.logs}`);
      try {
        const res = await fetch(`${this.baseUrl}${probe}`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server: ${probe} not 200 after ${timeoutMs} ms:\n${this.logs}`);
  }

  /**
   * Sends a signal to the api and resolves with its exit code (or the signal that ended it). The worker, when one
   * runs, gets SIGTERM alongside (a clean stop of both; a non-zero exit of the worker is then the answer when the
   * api's is 0); a SIGKILL of the api leaves it running unless `worker` says so (then it is SIGKILLed too). Throws
   * once a secret or a token has appeared in their output (see `leakCheck`).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', { worker = signal !== 'SIGKILL' }: { worker?: boolean } = {}): Promise<number | NodeJS.Signals> {
    const workerStopped = worker
      ? Promise.all([signal === 'SIGKILL' ? this.killWorker() : this.stopWorker(), this.stopStandby(signal === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM')]).then(([first, second]) => (first === 0 ? second : first))
      : Promise.resolve(0);
    const child = this.child;
    const api = child === undefined ? Promise.resolve(0) : exitOf(child);
    if (child && !ended(child)) child.kill(signal);
    const [apiExit, workerExit] = await Promise.all([api, workerStopped]);
    // The last lines may still be in the pipes when the exit is seen.
    for (const stopped of [child, this.worker?.child]) if (stopped !== undefined && ended(stopped)) await outputEnded(stopped);
    this.leakCheck.assertNone();
    return apiExit === 0 ? workerExit : apiExit;
  }

  /** SIGKILL of the api; the worker keeps running unless `worker` is true. */
  kill(options: { worker?: boolean } = {}): Promise<number | NodeJS.Signals> {
    return this.stop('SIGKILL', options);
  }

  /** SIGTERM of the worker alone, if one runs; resolves with its exit code (0 when none ran). */
  stopWorker(): Promise<number | NodeJS.Signals> {
    return this.signalWorker('SIGTERM');
  }

  /** SIGKILL of the worker alone, if one runs (a crash of the worker, the api left running). */
  killWorker(): Promise<number | NodeJS.Signals> {
    return this.signalWorker('SIGKILL');
  }

  /** Starts the worker again (after `killWorker`, or a crash) with the settings of its last run; the api is left alone. */
  async restartWorker(): Promise<void> {
    if (this.worker === undefined) throw new Error('no worker has run: start the server with WORKER=external first');
    if (this.workerRunning) throw new Error('the worker is still running: kill or stop it first');
    await this.startWorker(this.worker.env);
  }

  private async signalWorker(signal: NodeJS.Signals): Promise<number | NodeJS.Signals> {
    const run = this.worker;
    if (run === undefined) return 0;
    if (!ended(run.child)) run.child.kill(signal);
    return run.exited;
  }

  /** Removes the data dir (a PostgreSQL database of the `e2e-postgres` project is dropped at the end of the file). */
  cleanup(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
