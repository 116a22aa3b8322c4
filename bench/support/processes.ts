import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The repository root, seen from dist/bench/support (compiled) — the same three levels up as from bench/support. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const OUT_DIR = path.join(REPO_ROOT, 'bench', '.out');

/**
 * Core placement. On a machine with ≥ 2 cores and taskset, every system under test runs on core 0 and this process
 * (the load generator) on core 1, so neither steals the other's CPU. Without taskset the processes float and the
 * table says so.
 */
export interface Placement {
  readonly taskset: boolean;
  readonly sutCore: number;
  readonly loadCore: number;
  readonly note: string;
}

export const detectPlacement = (): Placement => {
  const cores = os.availableParallelism();
  const probe = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
  const taskset = probe.status === 0;
  if (!taskset) return { taskset: false, sutCore: 0, loadCore: 0, note: 'taskset NOT FOUND: server and load generator are not pinned (figures are noisier)' };
  if (cores < 2) return { taskset: false, sutCore: 0, loadCore: 0, note: `only ${cores} core: server and load generator share it` };
  return { taskset: true, sutCore: 0, loadCore: 1, note: 'server pinned to core 0 (taskset -c 0), load generator to core 1' };
};

/** Moves this process (all its threads) to the load core; children started later are pinned explicitly. */
export const pinSelf = (placement: Placement): void => {
  if (!placement.taskset) return;
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(placement.loadCore), String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset could not pin the load generator: ${r.stderr}`);
};

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });

/**
 * A private copy of dist/: the servers, baselines and the audit CLI run from it, so a `npm run build` started by
 * someone else in the same work tree (which deletes dist/) cannot pull files from under a running benchmark.
 * It lives under the repository so that node_modules still resolves.
 */
export const snapshotDist = (): string => {
  const source = path.join(REPO_ROOT, 'dist');
  const target = path.join(OUT_DIR, `dist-snapshot-${process.pid}`);
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(OUT_DIR, { recursive: true });
  fs.cpSync(source, target, { recursive: true, filter: (src) => !src.endsWith('.map') });
  return target;
};

export interface NodeProcessOptions {
  readonly label: string;
  readonly script: string;
  readonly args?: readonly string[];
  readonly env: Record<string, string>;
  readonly placement: Placement;
  /** Node options placed before the script (`--require FILE`). */
  readonly nodeArgs?: readonly string[];
  /** `--cpu-prof` into this directory (the profile is written when the process exits). */
  readonly cpuProfDir?: string;
}

/** A Node process of the system under test (or a baseline), pinned to the SUT core. */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(readonly options: NodeProcessOptions) {}

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`${this.options.label} is not running`);
    return pid;
  }

  get logs(): string {
    return this.output;
  }

  start(): void {
    const { script, args = [], env, placement, cpuProfDir } = this.options;
    const nodeArgs = [...(this.options.nodeArgs ?? []), ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), script, ...args];
    // taskset execs node in place, so the child's pid is node's pid (what /proc readings need).
    const [command, argv]: [string, string[]] = placement.taskset
      ? ['taskset', ['-c', String(placement.sutCore), process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
    this.child = spawn(command, argv, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  get exited(): boolean {
    return this.child === undefined || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async waitHttpReady(baseUrl: string, readyPath = '/health/ready', timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.options.label} exited during start:\n${this.output}`);
      try {
        const res = await fetch(baseUrl + readyPath);
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`${this.options.label} not ready after ${timeoutMs} ms:\n${this.output}`);
  }

  /** How it ended, once it has: the exit code, or the signal that killed it. */
  exitStatus(): { readonly code: number | null; readonly signal: string | null } | undefined {
    if (!this.child || !this.exited) return undefined;
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }

  /** Runs to completion (a CLI); resolves with its exit code and stdout. */
  async run(): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> {
    const started = performance.now();
    let stdout = '';
    let stderr = '';
    this.start();
    const child = this.child as ChildProcess;
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    return { code, stdout, stderr, wallMs: performance.now() - started };
  }

  /** SIGTERM (drain, flush, exit 0); SIGKILL after the grace period. */
  async stop(graceMs = 15_000): Promise<number | string | null> {
    const child = this.child;
    if (!child || this.exited) return child?.exitCode ?? null;
    const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS and VmHWM (peak) of a process, in MiB, from /proc/PID/status. */
export const memoryOf = (pid: number): { rssMiB: number; peakRssMiB: number } => {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`${field} missing from /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
};

export const makeTempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
