import fs from 'node:fs';
import http from 'node:http';
import { sleep } from './processes';

/**
 * What a process did from its spawn on, seen from outside: its /health/live answers (one poll in flight, a new one
 * 10 ms after the last answer or timeout), the first 200 of /health/ready, and its peak resident memory. All times are
 * milliseconds since the spawn.
 */
export interface StartWatchResult {
  /** First answer of /health/live (the server listens); null if it never answered. */
  readonly firstLiveMs: number | null;
  /** First 200 of /health/ready; null if it never came (death or the cap). */
  readonly readyMs: number | null;
  /**
   * Longest liveness stall after the first answer: from the send of the first poll left unanswered since the previous
   * answer to the next answer (so polls that timed out count in full), up to ready and over the whole watch.
   */
  readonly longestLiveStallMs: { readonly beforeReady: number; readonly overall: number; readonly atMs: number | null };
  /** /health/live polls answered, and those that timed out or failed after the first answer. */
  readonly livePolls: { readonly answered: number; readonly unanswered: number };
  /** The largest VmHWM seen (sampled every 50 ms, so a process that dies still has its last peak), in MiB. */
  readonly peakRssMiB: number;
  /** VmRSS at the last sample. */
  readonly lastRssMiB: number;
  /** The last stall still open when the watch ended (the process stopped answering and did not come back). */
  readonly openStallMs: number | null;
}

export interface StartWatchOptions {
  readonly baseUrl: string;
  readonly pid: number;
  /** performance.now() just before the spawn. */
  readonly spawnedAt: number;
  readonly exited: () => boolean;
  /** How long to keep watching once ready (a stall right after readiness counts too). */
  readonly afterReadyMs: number;
  /** Give up (not ready) this long after the spawn. */
  readonly capMs: number;
  readonly livePollMs?: number;
  readonly liveTimeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

interface Answer {
  readonly status: number;
}

/** One GET on its own agent (one keep-alive socket per probe, so a probe never queues behind the other). */
const get = (agent: http.Agent, url: string, timeoutMs: number): Promise<Answer | 'timeout' | 'error'> =>
  new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.once('error', () => resolve('error'));
    });
    req.once('timeout', () => {
      req.destroy();
      resolve('timeout');
    });
    req.once('error', () => resolve('error'));
  });

const readKiB = (pid: number): { rss: number; hwm: number } | undefined => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return rss && hwm ? { rss: Number(rss), hwm: Number(hwm) } : undefined;
  } catch {
    return undefined;
  }
};

/** Watches a starting server until ready (+ afterReadyMs), its death, or the cap. Never throws on the server's behalf. */
export const watchStart = async (options: StartWatchOptions): Promise<StartWatchResult> => {
  const { baseUrl, pid, spawnedAt, exited, afterReadyMs, capMs, livePollMs = 10, liveTimeoutMs = 1000, onProgress } = options;
  const since = (): number => performance.now() - spawnedAt;
  // Shared by the three loops below (mutated across awaits, hence one object rather than narrowed locals).
  const seen: { firstLiveMs: number | null; readyMs: number | null; done: boolean; pendingSince: number | null } = {
    firstLiveMs: null,
    readyMs: null,
    done: false,
    pendingSince: null,
  };
  let stallBeforeReady = 0;
  let stallOverall = 0;
  let stallAt: number | null = null;
  let answered = 0;
  let unanswered = 0;
  let peakKiB = 0;
  let lastKiB = 0;

  const memory = (async () => {
    while (!seen.done) {
      const m = readKiB(pid);
      if (m) {
        peakKiB = Math.max(peakKiB, m.hwm, m.rss);
        lastKiB = m.rss;
      }
      await sleep(50);
    }
  })();

  const liveAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const live = (async () => {
    while (!seen.done) {
      const sentAt = since();
      const answer = await get(liveAgent, `${baseUrl}/health/live`, liveTimeoutMs);
      const at = since();
      if (typeof answer === 'object' && answer.status === 200) {
        answered++;
        if (seen.firstLiveMs === null) {
          seen.firstLiveMs = at;
          onProgress?.(`/health/live first answered ${Math.round(at)} ms after spawn`);
        } else {
          const stall = at - (seen.pendingSince ?? sentAt);
          if (stall > stallOverall) {
            stallOverall = stall;
            stallAt = seen.pendingSince ?? sentAt;
          }
          if (seen.readyMs === null || (seen.pendingSince ?? sentAt) < seen.readyMs) stallBeforeReady = Math.max(stallBeforeReady, stall);
        }
        seen.pendingSince = null;
      } else if (seen.firstLiveMs !== null) {
        // Not listening yet is not a stall; after the first answer every failure or timeout is one.
        unanswered++;
        seen.pendingSince ??= sentAt;
      }
      await sleep(livePollMs);
    }
  })();

  const readyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let lastReport = 0;
  while (!exited() && since() < capMs) {
    const answer = await get(readyAgent, `${baseUrl}/health/ready`, 5000);
    if (typeof answer === 'object' && answer.status === 200) {
      seen.readyMs = since();
      onProgress?.(`/health/ready 200 ${(seen.readyMs / 1000).toFixed(2)} s after spawn`);
      break;
    }
    if (since() - lastReport > 10_000) {
      lastReport = since();
      const m = readKiB(pid);
      onProgress?.(`not ready after ${Math.round(lastReport / 1000)} s (RSS ${m ? Math.round(m.rss / 1024) : '?'} MiB)`);
    }
    await sleep(50);
  }
  if (seen.readyMs !== null) {
    const until = seen.readyMs + afterReadyMs;
    while (!exited() && since() < until) await sleep(20);
  }
  const openStallMs = seen.pendingSince === null ? null : since() - seen.pendingSince;
  seen.done = true;
  await Promise.all([memory, live]);
  liveAgent.destroy();
  readyAgent.destroy();
  return {
    firstLiveMs: seen.firstLiveMs,
    readyMs: seen.readyMs,
    longestLiveStallMs: { beforeReady: seen.readyMs === null ? Math.max(stallBeforeReady, openStallMs ?? 0) : stallBeforeReady, overall: Math.max(stallOverall, openStallMs ?? 0), atMs: stallAt },
    livePolls: { answered, unanswered },
    peakRssMiB: peakKiB / 1024,
    lastRssMiB: lastKiB / 1024,
    openStallMs,
  };
};
