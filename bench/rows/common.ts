import { LoadResult } from '../support/load';
import { cpuCost } from '../support/report';

/** Warnings a reader needs next to a throughput figure: a saturated load generator, or other work on the box. */
export const loadNotes = (label: string, r: LoadResult, expectOtherCpu = false): string[] => {
  const notes: string[] = [];
  if (r.cpu.loadGenerator > 0.9) notes.push(`${label}: the load generator used ${r.cpu.loadGenerator} of its core: the figure may be capped by the client`);
  if (!expectOtherCpu && r.cpu.other > 0.25) notes.push(`${label}: ${r.cpu.other} cores were busy outside the server and the load generator: noisy window`);
  if (r.errors > 0) notes.push(`${label}: ${r.errors} socket errors (${r.timeouts} timeouts)`);
  return notes;
};

/** The figures of one load window kept in results.json. */
export const loadDetails = (r: LoadResult): Record<string, unknown> => ({
  seconds: r.seconds,
  responses: r.responses,
  responsesPerSecond: Math.round(r.rate),
  statuses: r.statuses,
  errors: r.errors,
  timeouts: r.timeouts,
  latencyMs: r.latencyMs,
  cpuCores: r.cpu,
  ...(r.samples && Object.keys(r.samples).length > 0 ? { samples: r.samples } : {}),
});

export const unexpected = (label: string, r: LoadResult, expected: number): string[] => {
  const others = Object.entries(r.statuses).filter(([status]) => status !== String(expected));
  if (others.length === 0) return [];
  return [`${label}: answers other than ${expected}: ${others.map(([s, n]) => `${n}× ${s}`).join(', ')}`];
};

/** "312 µs (0.97 cores)": the server's CPU per answer of a window at `perSecond` answers/s. */
export const cpuText = (r: LoadResult, perSecond: number): string => {
  const cost = cpuCost(r.cpu.sut, perSecond, '');
  return `${cost === null ? '—' : `${Math.round(cost.us)} µs`} (${r.cpu.sut} cores)`;
};
