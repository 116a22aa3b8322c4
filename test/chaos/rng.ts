/**
 * Seeded randomness for the chaos suite. One seed per Jest run (CHAOS_SEED replays it, else a fresh one is drawn and
 * printed); every fault run derives its own generator from (seed, scenario kind, run index), so a single run can be
 * replayed on its own and adding runs to one kind never changes the timing of another.
 */
export type Rng = {
  /** Uniform in [0, 1). */
  (): number;
  /** Integer in [min, max] inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
};

/** FNV-1a over a string: turns (seed, kind, index) into 32 bits of generator state. */
const hash32 = (text: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
};

/** mulberry32: small, fast, good enough to spread fault timings. */
export const rngFrom = (seedState: number): Rng => {
  let a = seedState >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng = next as Rng;
  rng.int = (min, max) => min + Math.floor(next() * (max - min + 1));
  rng.chance = (p) => next() < p;
  rng.pick = (items) => {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(next() * items.length)] as (typeof items)[number];
  };
  rng.shuffle = (items) => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [out[i], out[j]] = [out[j] as (typeof out)[number], out[i] as (typeof out)[number]];
    }
    return out;
  };
  return rng;
};

/** The generator of one fault run: the same (seed, kind, index) always gives the same timings. */
export const runRng = (seed: number, kind: string, index: number): Rng => rngFrom(hash32(`${seed}/${kind}/${index}`));

const parseWhole = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return Number(raw);
};

/** The seed of this Jest run: CHAOS_SEED to replay, else drawn once per process (and printed by every spec). */
export const chaosSeed = (): number => {
  const given = parseWhole('CHAOS_SEED', process.env.CHAOS_SEED);
  if (given !== undefined) return given;
  const g = globalThis as { __chaosSeed?: number };
  g.__chaosSeed ??= Math.floor(Math.random() * 2 ** 31);
  return g.__chaosSeed;
};

/** CHAOS_RUNS: fault runs per scenario kind (long mode); absent means the quick default of that kind. */
export const chaosRuns = (quickDefault: number): number => parseWhole('CHAOS_RUNS', process.env.CHAOS_RUNS) ?? quickDefault;

/** True in long mode (`npm run chaos`): specs may use bigger stocks and more users. */
export const longMode = (): boolean => process.env.CHAOS_RUNS !== undefined && process.env.CHAOS_RUNS !== '';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
