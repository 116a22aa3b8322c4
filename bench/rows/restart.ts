import fs from 'node:fs';
import path from 'node:path';
import { generateLog, GeneratedLog } from '../replay/generate-log';
import { ENGINE_NODE_OPTIONS } from '../settings';
import { BenchContext } from '../support/context';
import { CpuShare, cpuWindow, waitForQuiet } from '../support/cpu';
import { progress } from '../support/log';
import { freePort, makeTempDir, memoryOf, NodeProcess } from '../support/processes';
import { summarizeProfile } from '../support/profile';
import { RowResult, Target } from '../support/report';
import { StartWatchResult, watchStart } from '../support/start-watch';

/** Issue #23's targets: ready within 3 s, /health/live within 100 ms at every moment of start-up, in the 256 MB heap. */
const READY_TARGET_S = 3;
const LIVE_TARGET_MS = 100;
const TARGET: Target = { kind: 'value-below', threshold: READY_TARGET_S, text: `ready < ${READY_TARGET_S} s and /health/live stall < ${LIVE_TARGET_MS} ms, both cases, heap 256 MB` };

type CaseName = 'fresh' | 'checkpointed';

interface StartCase {
  readonly name: CaseName;
  readonly nodeOptions: string;
  /** DATA_DIR's files when the api was spawned: the fresh case must hold the log alone. */
  readonly filesAtStart: Record<string, number>;
  readonly watch: StartWatchResult;
  /** How the process ended: died during the watch, or stopped by SIGTERM after it. */
  readonly ended: { readonly died: boolean; readonly code: number | null; readonly signal: string | null; readonly cause?: string; readonly logTail?: string };
  readonly workerPeakRssMiB?: number;
  /** Cores used from spawn to the end of the watch by the api, the harness and everything else (unknown after a death). */
  readonly cpuCores?: CpuShare;
  /** The api's own log lines during the watch (pino JSON), as milliseconds after the spawn and message. */
  readonly milestones: readonly { readonly ms: number; readonly level: number; readonly msg: string; readonly fields?: Record<string, unknown> }[];
}

/** The api's pino lines, timed from the spawn; its output (the last 20k characters) holds the whole start at info. */
const milestonesOf = (logs: string, spawnedEpochMs: number): StartCase['milestones'] =>
  logs
    .split('\n')
    .flatMap((line) => {
      try {
        const { time, level, msg, pid: _pid, hostname: _host, ...fields } = JSON.parse(line) as { time?: number; level?: number; msg?: string; pid?: number; hostname?: string };
        if (typeof time !== 'number' || typeof msg !== 'string') return [];
        return [{ ms: time - spawnedEpochMs, level: level ?? 0, msg, fields }];
      } catch {
        return [];
      }
    })
    .slice(0, 60);

const filesOf = (dir: string): Record<string, number> =>
  Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, Math.round(fs.statSync(path.join(dir, f)).size / 1048576)]),
  );

const causeOf = (logs: string, signal: string | null): string | undefined => {
  if (/heap out of memory|Reached heap limit/i.test(logs)) return 'V8 heap out of memory';
  if (signal === 'SIGKILL') return 'SIGKILL (the kernel OOM killer, or the harness at the cap)';
  return undefined;
};

/** Spawns the built api on `dataDir` and watches it until ready (+ a settle window), its death, or the mode's cap. */
const startOnce = async (ctx: BenchContext, name: CaseName, dataDir: string, nodeOptions: string): Promise<StartCase> => {
  const settings = ctx.mode.restart;
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    JWT_SECRET: ctx.auth.jwtSecret,
    PAYMENT_WEBHOOK_SECRET: ctx.auth.webhookSecret,
    DEMO: '0',
    // The default level: start-up milestones (indexes and sagas caught up, projections) are logged at info.
    LOG_LEVEL: 'info',
    WORKER: ctx.worker,
    ...(nodeOptions === '' ? {} : { NODE_OPTIONS: nodeOptions }),
  };
  const label = `row9-${name}${nodeOptions === '' ? '-default-heap' : ''}`;
  const cpuProfDir = ctx.profileDir ? path.join(ctx.profileDir, label) : undefined;
  if (cpuProfDir) fs.mkdirSync(cpuProfDir, { recursive: true });
  const api = new NodeProcess({ label, script: path.join(ctx.dist, 'apps/api/src/main.js'), env, placement: ctx.placement, ...(cpuProfDir ? { cpuProfDir } : {}) });
  const worker = ctx.worker === 'external' ? new NodeProcess({ label: `${label}-worker`, script: path.join(ctx.dist, 'apps/worker/src/main.js'), env, placement: ctx.placement }) : undefined;
  const filesAtStart = filesOf(dataDir);
  await waitForQuiet(progress);
  progress(`row 9 ${name}: starting the api (NODE_OPTIONS=${nodeOptions || '(none)'}, WORKER=${ctx.worker}) on ${baseUrl}; DATA_DIR holds ${Object.keys(filesAtStart).join(', ')}`);
  const spawnedAt = performance.now();
  const spawnedEpochMs = Date.now();
  api.start();
  worker?.start();
  const cpu = cpuWindow(api.pid);
  const watch = await watchStart({
    baseUrl,
    pid: api.pid,
    spawnedAt,
    exited: () => api.exited,
    afterReadyMs: settings.afterReadySeconds * 1000,
    capMs: settings.capSeconds * 1000,
    onProgress: (m) => progress(`row 9 ${name}: ${m}`),
  });
  const cpuCores = api.exited ? undefined : cpu();
  let workerPeakRssMiB: number | undefined;
  if (worker && !worker.exited) workerPeakRssMiB = memoryOf(worker.pid).peakRssMiB;
  let ended: StartCase['ended'];
  const status = api.exitStatus();
  if (status) {
    const logTail = api.logs.slice(-1500);
    const cause = causeOf(api.logs, status.signal);
    ended = { died: true, code: status.code, signal: status.signal, ...(cause ? { cause } : {}), logTail };
    progress(`row 9 ${name}: the api DIED after ${((performance.now() - spawnedAt) / 1000).toFixed(1)} s: code ${String(status.code)}, signal ${String(status.signal)}${cause ? ` (${cause})` : ''}\n${logTail.slice(-600)}`);
  } else {
    const code = await api.stop(30_000);
    const after = api.exitStatus();
    ended = { died: false, code: after?.code ?? null, signal: after?.signal ?? null, ...(code === 0 ? {} : { logTail: api.logs.slice(-1500) }) };
    if (code !== 0) progress(`row 9 ${name}: exited with ${String(code)} on SIGTERM\n${api.logs.slice(-600)}`);
  }
  if (worker) await worker.stop();
  if (cpuProfDir) {
    const summary = summarizeProfile(cpuProfDir, `row 9 ${label}`);
    if (summary) {
      fs.writeFileSync(path.join(cpuProfDir, 'summary.txt'), summary.text + '\n');
      ctx.profiles.push(summary);
      process.stderr.write(summary.text + '\n');
    }
  }
  const milestones = milestonesOf(api.logs, spawnedEpochMs);
  return { name, nodeOptions, filesAtStart, watch, ended, milestones, ...(workerPeakRssMiB === undefined ? {} : { workerPeakRssMiB }), ...(cpuCores ? { cpuCores } : {}) };
};

const ms = (v: number | null): string => (v === null ? '—' : `${Math.round(v).toLocaleString('en-US')} ms`);

/** One line per case, the row's table (printed with the notes). */
const caseLine = (c: StartCase): string => {
  const w = c.watch;
  const outcome = c.ended.died
    ? `DIED (exit ${String(c.ended.code)}, signal ${String(c.ended.signal)}${c.ended.cause ? `, ${c.ended.cause}` : ''})`
    : w.readyMs === null
      ? `NOT READY within the cap`
      : `ready ${(w.readyMs / 1000).toFixed(2)} s`;
  return [
    `${c.name.padEnd(12)} ${outcome}`,
    `first /health/live ${ms(w.firstLiveMs)}`,
    `longest /health/live stall ${ms(w.longestLiveStallMs.beforeReady)} before ready (${ms(w.longestLiveStallMs.overall)} overall${w.longestLiveStallMs.atMs === null ? '' : `, from ${ms(w.longestLiveStallMs.atMs)}`}; ${w.livePolls.unanswered} polls unanswered)`,
    `peak RSS ${Math.round(w.peakRssMiB)} MiB`,
    ...(c.workerPeakRssMiB === undefined ? [] : [`worker peak RSS ${Math.round(c.workerPeakRssMiB)} MiB`]),
    ...(c.nodeOptions === ENGINE_NODE_OPTIONS ? [] : [`NODE_OPTIONS=${c.nodeOptions || '(none: default heap)'}`]),
    ...(c.cpuCores ? [`cores: api ${c.cpuCores.sut}, others ${c.cpuCores.other}${c.cpuCores.other > 0.25 ? ' (BUSY MACHINE: noisy)' : ''}`] : []),
  ].join(' | ');
};

const meetsTargets = (c: StartCase): boolean =>
  !c.ended.died && c.watch.readyMs !== null && c.watch.readyMs <= READY_TARGET_S * 1000 && c.watch.longestLiveStallMs.overall < LIVE_TARGET_MS;

/**
 * Row 9 (issue #23): the api started on the generated log, (a) fresh — DATA_DIR holds the log alone, as a new
 * replica or a rebuilt read model — and (b) checkpointed — the same DATA_DIR after that run reached ready and was
 * stopped cleanly. Measures spawn → first 200 of /health/ready, the longest /health/live stall, and peak RSS; a
 * death (heap OOM) is a result, recorded with its exit status and log tail.
 */
export const restartRow = async (ctx: BenchContext): Promise<RowResult> => {
  const settings = ctx.mode.restart;
  const dataDir = makeTempDir('flash-bench-restart-');
  try {
    // Row 6 generates its log into a temporary folder and removes it; nothing is cached between rows, so this row
    // writes its own with the same generator (the same 1,096,016 events for the full mode's 1M target).
    progress(`row 9: generating a log of ${settings.events.toLocaleString('en-US')} events`);
    const log: GeneratedLog = await generateLog(dataDir, settings.events, (n) => progress(`row 9: ${n.toLocaleString('en-US')} events written`));
    const storeMiB = Math.round(fs.statSync(path.join(dataDir, 'events.sqlite')).size / 1048576);
    progress(`row 9: ${log.events.toLocaleString('en-US')} events (${storeMiB} MiB) written in ${log.seconds.toFixed(1)} s`);

    const notes: string[] = [];
    const fresh = await startOnce(ctx, 'fresh', dataDir, ENGINE_NODE_OPTIONS);
    let checkpointed: StartCase | string;
    let preparedBy: StartCase | undefined;
    if (fresh.ended.died || fresh.watch.readyMs === null || fresh.ended.code !== 0) {
      // No clean run in the 256 MB heap: write the checkpoints with Node's default heap instead, then measure (b).
      // What the dead run left (partial read models, saga checkpoints) goes first, so that run starts fresh too.
      for (const f of fs.readdirSync(dataDir)) if (!f.startsWith('events.sqlite')) fs.rmSync(path.join(dataDir, f), { force: true });
      preparedBy = await startOnce(ctx, 'fresh', dataDir, '');
      notes.push(`the fresh run in the 256 MB heap did not reach ready and stop cleanly; the checkpoints for (b) were written by a run with Node's default heap: ${caseLine(preparedBy)}`);
    }
    const prepared = preparedBy ?? fresh;
    if (prepared.ended.died || prepared.watch.readyMs === null || prepared.ended.code !== 0) {
      checkpointed = 'no api run reached ready and stopped cleanly, so there are no checkpoints to start from';
    } else {
      checkpointed = await startOnce(ctx, 'checkpointed', dataDir, ENGINE_NODE_OPTIONS);
    }
    const cases = typeof checkpointed === 'string' ? [fresh] : [fresh, checkpointed];
    const readies = cases.map((c) => (c.ended.died ? null : c.watch.readyMs));
    // The row's figure: the slower of the two starts; a death (or a case not measured) leaves it empty.
    const value = typeof checkpointed !== 'string' && readies.every((r) => r !== null) ? Math.max(...readies) / 1000 : null;
    const pass = typeof checkpointed !== 'string' && cases.every(meetsTargets);
    return {
      id: 9,
      key: 'restart',
      title: `restart on ${log.events.toLocaleString('en-US')} events (${storeMiB} MiB store), fresh and checkpointed, WORKER=${ctx.worker}`,
      metric: 's to ready (slower case)',
      value,
      ratio: null,
      target: TARGET,
      pass,
      // A start-up serves no requests: CPU during it is in each case's details (cpuCores), not a cost per request.
      cpu: null,
      notes: [
        ...cases.map(caseLine),
        ...(typeof checkpointed === 'string' ? [`checkpointed: not measured: ${checkpointed}`] : []),
        ...notes,
        `api as \`node dist/apps/api/src/main.js\` with NODE_OPTIONS=${ENGINE_NODE_OPTIONS}, DEMO=0, WORKER=${ctx.worker}${ctx.worker === 'embedded' ? ' (the default; --worker external runs the worker beside it)' : ''}; /health/live polled every 10 ms (one in flight, 1 s timeout), /health/ready every 50 ms, RSS every 50 ms; the watch goes on ${settings.afterReadySeconds} s after ready`,
      ],
      details: {
        log: { ...log, storeMiB },
        nodeOptions: ENGINE_NODE_OPTIONS,
        worker: ctx.worker,
        fresh,
        ...(typeof checkpointed === 'string' ? { checkpointedSkipped: checkpointed } : { checkpointed }),
        ...(preparedBy ? { checkpointsWrittenBy: preparedBy } : {}),
      },
    };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
};
