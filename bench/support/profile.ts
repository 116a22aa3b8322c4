import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame; readonly children?: readonly number[] }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time. */
  readonly percent: number;
}

/**
 * A stretch of samples with no idle one between them: one long task of the event loop, or several turns back to back
 * (work that yields between slices still makes one stretch: a request arriving then competes with it, and waits
 * behind it only where it does not yield).
 */
export interface BusyStretch {
  readonly ms: number;
  /** When it began, from the profile's start (the first stretch of a server is its start-up). */
  readonly atMs: number;
  /** Where its time went, by the nearest project function on each sample's stack (else the sample's area). */
  readonly by: ProfileEntry[];
}

export interface ProfileSummary {
  readonly file: string;
  readonly busyMs: number;
  readonly idlePercent: number;
  readonly topFunctions: ProfileEntry[];
  readonly byArea: ProfileEntry[];
  /** The longest busy stretches, longest first. */
  readonly longest: BusyStretch[];
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

const rankUs = (m: Map<string, number>, n: number, total: number): ProfileEntry[] =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percent: Math.round((us / Math.max(1, total)) * 1000) / 10 }));

const frameName = (frame: CallFrame): string => (frame.url === '' ? frame.functionName : `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`);

/**
 * The `count` longest runs of consecutive busy samples. Each sample is charged to the nearest frame of the project's
 * own code on its stack (a SQLite or a Node call is charged to the project function that made it), else to its area
 * (V8 hangs "(garbage collector)" and "(program)" off the root, so those stay themselves).
 */
const longestStretches = (profile: CpuProfile, count: number): BusyStretch[] => {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  const owner = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const known = owner.get(id);
    if (known !== undefined) return known;
    let at: number | undefined = id;
    let found: string | undefined;
    while (at !== undefined && found === undefined) {
      const frame = frames.get(at);
      if (frame && projectPath(frame.url) !== undefined) found = frameName(frame);
      at = parents.get(at);
    }
    const frame = frames.get(id);
    const name = found ?? (frame ? areaOf(frame) : 'unknown');
    owner.set(id, name);
    return name;
  };
  const stretches: { us: number; atUs: number; samples: Array<[number, number]> }[] = [];
  let current: { us: number; atUs: number; samples: Array<[number, number]> } | undefined;
  let clockUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    clockUs += profile.timeDeltas[i] ?? 0;
    if (frames.get(id)?.functionName === '(idle)') {
      if (current) stretches.push(current);
      current = undefined;
      return;
    }
    current ??= { us: 0, atUs: clockUs, samples: [] };
    current.us += us;
    current.samples.push([id, us]);
  });
  if (current) stretches.push(current);
  return stretches
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((s) => {
      const by = new Map<string, number>();
      for (const [id, us] of s.samples) by.set(ownerOf(id), (by.get(ownerOf(id)) ?? 0) + us);
      return { ms: Math.round(s.us / 1000), atMs: Math.round(s.atUs / 1000), by: rankUs(by, 4, s.us) };
    });
};

/** Self time per function and per area from the newest .cpuprofile in `dir`, and its longest busy stretches. */
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
    const name = frameName(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  });
  const topFunctions = rankUs(byFunction, top, busyUs);
  const areas = rankUs(byArea, 12, busyUs);
  const longest = longestStretches(profile, 5);
  const idlePercent = Math.round((idleUs / Math.max(1, idleUs + busyUs)) * 1000) / 10;
  const lines = [
    `CPU profile of ${label}: ${path.relative(process.cwd(), file)}`,
    `busy ${Math.round(busyUs / 1000)} ms, idle ${idlePercent}% of the process lifetime`,
    'top self time (share of busy time):',
    ...topFunctions.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(7)} ms  ${e.name}`),
    'by area:',
    ...areas.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(7)} ms  ${e.name}`),
    'longest busy stretches (no idle sample between), charged to the nearest project function on the stack:',
    ...longest.map((l) => `  ${String(l.ms).padStart(6)} ms at ${(l.atMs / 1000).toFixed(1)} s: ${l.by.map((e) => `${e.percent.toFixed(0)}% ${e.name}`).join('; ')}`),
  ];
  return { file, busyMs: Math.round(busyUs / 1000), idlePercent, topFunctions, byArea: areas, longest, text: lines.join('\n') };
};
