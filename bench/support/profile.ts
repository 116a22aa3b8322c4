import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time. */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly busyMs: number;
  readonly idlePercent: number;
  readonly topFunctions: ProfileEntry[];
  readonly byArea: ProfileEntry[];
  readonly text: string;
}

/** A project file's path from the repository root (the benchmark runs the code from a copy of dist/). */
const projectPath = (url: string): string | undefined =>
  /\/(?:dist-snapshot-\d+|dist)\/((?:apps|libs|bench)\/.*)$/.exec(url)?.[1] ?? /\/((?:apps|libs|bench)\/.*)$/.exec(url)?.[1];

/** Where a function lives: a package, Node's own code, the project, or V8 (GC, native "program"). */
const areaOf = (frame: CallFrame): string => {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : 'native';
  if (frame.url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (pkg) return pkg[1] ?? 'node_modules';
  const own = /^(apps\/[^/]+|libs\/[^/]+|bench)\//.exec(projectPath(frame.url) ?? '');
  return own ? `project ${own[1] ?? ''}` : 'other';
};

const shortUrl = (url: string): string => {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  return projectPath(url) ?? url.replace(/^file:\/\//, '');
};

/** Self time per function and per area from the newest .cpuprofile in `dir`. */
export const summarizeProfile = (dir: string, label: string, top = 15): ProfileSummary | undefined => {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  const file = files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!file) return undefined;
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const frame = frames.get(id);
    if (!frame) return;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      return;
    }
    busyUs += us;
    const name = frame.url === '' ? frame.functionName : `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  });
  const rank = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percent: Math.round((us / Math.max(1, busyUs)) * 1000) / 10 }));
  const topFunctions = rank(byFunction, top);
  const areas = rank(byArea, 12);
  const idlePercent = Math.round((idleUs / Math.max(1, idleUs + busyUs)) * 1000) / 10;
  const lines = [
    `CPU profile of ${label}: ${path.relative(process.cwd(), file)}`,
    `busy ${Math.round(busyUs / 1000)} ms, idle ${idlePercent}% of the process lifetime`,
    'top self time (share of busy time):',
    ...topFunctions.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(7)} ms  ${e.name}`),
    'by area:',
    ...areas.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(7)} ms  ${e.name}`),
  ];
  return { file, busyMs: Math.round(busyUs / 1000), idlePercent, topFunctions, byArea: areas, text: lines.join('\n') };
};
