import fs from 'node:fs';
import path from 'node:path';
import { ENGINE_NODE_OPTIONS, ModeSettings } from '../settings';
import { BenchApi } from './api';
import { BenchAuth } from './buyers';
import { progress } from './log';
import { freePort, makeTempDir, NodeProcess, Placement } from './processes';
import { ProfileSummary, summarizeProfile } from './profile';

export interface BenchContext {
  readonly mode: ModeSettings;
  readonly placement: Placement;
  /** The private copy of dist/ every system under test runs from. */
  readonly dist: string;
  readonly auth: BenchAuth;
  /** Set by --profile: servers run with --cpu-prof into a folder per row. */
  readonly profileDir?: string;
  /** CPU profile summaries collected as servers stop (with --profile). */
  readonly profiles: ProfileSummary[];
  /** --worker: external runs a worker process beside every engine (WORKER=external). */
  readonly worker: 'embedded' | 'external';
}

/** A system under test on 127.0.0.1 with a free port, in its own process on the SUT core. */
export interface RunningSystem {
  readonly label: string;
  readonly process: NodeProcess;
  /** The worker process beside the api (WORKER=external), when there is one. */
  readonly worker?: NodeProcess;
  readonly baseUrl: string;
  readonly api: BenchApi;
  /** Stops it (SIGTERM), removes its data, and returns the CPU profile summary when profiling. */
  stop(): Promise<ProfileSummary | undefined>;
}

const profileFolder = (ctx: BenchContext, label: string): string | undefined => {
  if (!ctx.profileDir) return undefined;
  const dir = path.join(ctx.profileDir, label.replace(/[^A-Za-z0-9_.-]+/g, '-'));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};

/** The CPU profile of a stopped server, summarised beside it and kept for the report. */
const summarize = (ctx: BenchContext, dir: string, label: string): ProfileSummary | undefined => {
  const summary = summarizeProfile(dir, label);
  if (summary) {
    fs.writeFileSync(path.join(dir, 'summary.txt'), summary.text + '\n');
    ctx.profiles.push(summary);
    process.stderr.write(summary.text + '\n');
  }
  return summary;
};

/** With --profile, the worker beside an api is profiled too, into a folder of its own. */
const workerProfile = (ctx: BenchContext, label: string): { cpuProfDir?: string } => {
  const dir = profileFolder(ctx, `${label}-worker`);
  return dir ? { cpuProfDir: dir } : {};
};

const startSystem = async (
  ctx: BenchContext,
  label: string,
  script: string,
  env: Record<string, string>,
  dataDir?: string,
  companion?: NodeProcess,
): Promise<RunningSystem> => {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const cpuProfDir = profileFolder(ctx, label);
  const proc = new NodeProcess({
    label,
    script,
    env: { PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production', ...env },
    placement: ctx.placement,
    ...(cpuProfDir ? { cpuProfDir } : {}),
  });
  progress(`${label}: starting on ${baseUrl}${cpuProfDir ? ' (with --cpu-prof)' : ''}`);
  proc.start();
  if (companion) {
    // The api is ready only once the worker has reported (WORKER=external), and the worker comes second so that it
    // finds the store the api opened: start it once the api answers at all.
    await proc.waitHttpReady(baseUrl, '/health/live');
    progress(`${label}: starting ${companion.options.label}`);
    companion.start();
  }
  await proc.waitHttpReady(baseUrl);
  return {
    label,
    process: proc,
    ...(companion ? { worker: companion } : {}),
    baseUrl,
    api: new BenchApi(baseUrl, ctx.auth),
    stop: async () => {
      const code = await proc.stop();
      if (companion) await companion.stop();
      if (code !== 0) progress(`${label}: exited with ${String(code)} on SIGTERM\n${proc.logs.slice(-2000)}`);
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      const companionDir = companion?.options.cpuProfDir;
      if (companion && companionDir) summarize(ctx, companionDir, companion.options.label);
      return cpuProfDir ? summarize(ctx, cpuProfDir, label) : undefined;
    },
  };
};

/**
 * The engine as a user runs it (`node dist/apps/api/src/main.js`), with its own DATA_DIR, frequency limits off
 * (single-host load; auth, purchase tokens and shedding stay on), fsync per commit and the heap of ENGINE_NODE_OPTIONS
 * unless `env` says otherwise.
 */
export const startEngine = async (ctx: BenchContext, label: string, env: Record<string, string> = {}): Promise<RunningSystem> => {
  const dataDir = makeTempDir('flash-bench-');
  const engineEnv = {
    DATA_DIR: dataDir,
    JWT_SECRET: ctx.auth.jwtSecret,
    PAYMENT_WEBHOOK_SECRET: ctx.auth.webhookSecret,
    DEMO: '0',
    LOG_LEVEL: 'warn',
    ACCESS_LIMITS: 'off',
    SQLITE_SYNCHRONOUS: 'FULL',
    NODE_OPTIONS: ENGINE_NODE_OPTIONS,
    WORKER: ctx.worker,
    ...env,
  };
  const worker =
    engineEnv.WORKER === 'external'
      ? new NodeProcess({ label: `${label}-worker`, script: path.join(ctx.dist, 'apps/worker/src/main.js'), env: engineEnv, placement: ctx.placement, ...workerProfile(ctx, label) })
      : undefined;
  return startSystem(ctx, label, path.join(ctx.dist, 'apps/api/src/main.js'), engineEnv, dataDir, worker);
};

export const startBaseline = (ctx: BenchContext, label: string, name: 'bare-fastify' | 'naive-postgres', env: Record<string, string> = {}): Promise<RunningSystem> =>
  startSystem(ctx, label, path.join(ctx.dist, 'bench/baselines', `${name}.js`), { JWT_SECRET: ctx.auth.jwtSecret, ...env });
