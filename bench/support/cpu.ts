import fs from 'node:fs';

/** Linux reports process and system CPU time in clock ticks of 1/100 s (USER_HZ) on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

/** A process's CPU in clock ticks, user and system apart, and how often the scheduler took the CPU from it. */
interface ProcessCounters {
  readonly user: number;
  readonly system: number;
  readonly involuntarySwitches: number;
}

/** Its CPU ticks (utime, stime), or undefined once it is gone. */
const cpuTicks = (pid: number): { user: number; system: number } | undefined => {
  try {
    // Fields after the command name (which may contain spaces): state is field 3; utime and stime are 14 and 15.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]), system: Number(fields[12]) };
  } catch {
    return undefined;
  }
};

const processTicks = (pid: number): number => {
  const ticks = cpuTicks(pid);
  return ticks ? ticks.user + ticks.system : 0;
};

const processCounters = (pid: number): ProcessCounters | undefined => {
  const ticks = cpuTicks(pid);
  try {
    const switches = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return ticks && { ...ticks, involuntarySwitches: Number(switches?.[1] ?? 0) };
  } catch {
    return undefined; // gone (a backend that closed): its last ticks are lost, a few at most
  }
};

/**
 * Every local process whose command is `postgres` (the postmaster, its backends and helpers): PostgreSQL's own CPU,
 * which a row's "other" otherwise only holds among everything else. None when the server runs on another machine.
 */
export const postgresPids = (): number[] => {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // gone between the listing and the read
    }
  }
  return pids;
};

/** Processes a window reports apart: fixed pids, or a listing made at each end (PostgreSQL's backends come and go). */
export type ProcessGroup = readonly number[] | (() => readonly number[]);

/** Where one group of processes' CPU went over a window, in cores, and how often they were preempted. */
export interface GroupCpu {
  readonly cores: number;
  readonly user: number;
  readonly system: number;
  /** Times per second the scheduler took a CPU from one of them while it could still run (nonvoluntary switches). */
  readonly preemptionsPerSecond: number;
}

const listOf = (group: ProcessGroup): readonly number[] => (typeof group === 'function' ? group() : group);

/**
 * Starts measuring each group; the returned function ends the window. A process seen only at the end started within
 * the window and counts from zero; one seen only at the start ended within it and counts for nothing.
 */
const groupsWindow = (groups: Readonly<Record<string, ProcessGroup>>): ((seconds: number) => Record<string, GroupCpu>) => {
  const start = new Map(Object.entries(groups).map(([name, group]) => [name, new Map(listOf(group).map((pid) => [pid, processCounters(pid)]))]));
  return (seconds) => {
    const round = (ticks: number): number => Math.round((ticks / TICKS_PER_SECOND / seconds) * 100) / 100;
    const result: Record<string, GroupCpu> = {};
    for (const [name, group] of Object.entries(groups)) {
      const before = start.get(name);
      let user = 0;
      let system = 0;
      let switches = 0;
      for (const pid of listOf(group)) {
        const end = processCounters(pid);
        if (!end) continue;
        const from = before?.get(pid) ?? { user: 0, system: 0, involuntarySwitches: 0 };
        user += end.user - from.user;
        system += end.system - from.system;
        switches += end.involuntarySwitches - from.involuntarySwitches;
      }
      result[name] = { cores: round(user + system), user: round(user), system: round(system), preemptionsPerSecond: Math.round(switches / seconds) };
    }
    return result;
  };
};

const machineBusyTicks = (): number => {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
};

/** Where the CPU went during a timed window, in cores (1.0 = one core busy the whole window). */
export interface CpuShare {
  /** The system under test (server or baseline process; the sum over its replicas when there are several). */
  readonly sut: number;
  /** Each replica's share, in the order given, when the system under test is several processes. */
  readonly sutEach?: readonly number[];
  /** This process: the load generator. */
  readonly loadGenerator: number;
  /** Everything else on the machine: PostgreSQL for the naive baseline, otherwise noise from other work. */
  readonly other: number;
  /** The process groups the caller named (cpuWindow's `groups`), each apart; they may overlap `sut` and `other`. */
  readonly groups?: Readonly<Record<string, GroupCpu>>;
}

/** Starts measuring; the returned function ends the window and returns the shares. */
export const cpuWindow = (sutPid: number | readonly number[] | undefined, groups?: Readonly<Record<string, ProcessGroup>>): (() => CpuShare) => {
  const pids = sutPid === undefined ? [] : typeof sutPid === 'number' ? [sutPid] : sutPid;
  const endGroups = groups && groupsWindow(groups);
  const started = performance.now();
  const sut0 = pids.map(processTicks);
  const self0 = process.cpuUsage();
  const busy0 = machineBusyTicks();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const each = pids.map((pid, i) => (processTicks(pid) - (sut0[i] ?? 0)) / TICKS_PER_SECOND);
    const sut = each.reduce((a, b) => a + b, 0);
    const selfUsage = process.cpuUsage(self0);
    const self = (selfUsage.user + selfUsage.system) / 1e6;
    const busy = (machineBusyTicks() - busy0) / TICKS_PER_SECOND;
    const round = (n: number): number => Math.round((n / seconds) * 100) / 100;
    return {
      sut: round(sut),
      ...(pids.length > 1 ? { sutEach: each.map(round) } : {}),
      loadGenerator: round(self),
      other: round(Math.max(0, busy - sut - self)),
      ...(endGroups ? { groups: endGroups(seconds) } : {}),
    };
  };
};

let quietWaitSeconds = 0;
const QUIET_THRESHOLD_CORES = 0.3;

/** How long a window may wait for other work on the machine to stop (0: never wait). */
export const setQuietWait = (seconds: number): void => {
  quietWaitSeconds = seconds;
};

/**
 * Waits (up to the configured time) until the machine's CPU outside this process has stayed under 0.3 cores for two
 * consecutive seconds, so that a window does not start while someone else's build or test run shares the cores.
 * Returns the cores that were busy in the last sample (the caller notes it when the wait gave up).
 */
export const waitForQuiet = async (onWait: (message: string) => void): Promise<number> => {
  if (quietWaitSeconds <= 0) return 0;
  const deadline = performance.now() + quietWaitSeconds * 1000;
  let calm = 0;
  let last = 0;
  let announced = 0;
  while (performance.now() < deadline) {
    const end = cpuWindow(undefined);
    await new Promise((r) => setTimeout(r, 1000));
    const share = end();
    last = share.other;
    calm = last < QUIET_THRESHOLD_CORES ? calm + 1 : 0;
    if (calm >= 2) return last;
    const waited = quietWaitSeconds - (deadline - performance.now()) / 1000;
    if (waited - announced >= 10) {
      announced = waited;
      onWait(`waiting for a quiet machine: ${last} cores busy elsewhere (${Math.round(waited)} s of at most ${quietWaitSeconds} s)`);
    }
  }
  onWait(`machine still busy after ${quietWaitSeconds} s (${last} cores elsewhere): measuring anyway`);
  return last;
};
