/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses what GET /metrics answers (format 0.0.4) into samples; comments and blank lines are skipped. */
export const parsePrometheusText = (text: string): Sample[] =>
  text.split('\n').flatMap((line) => {
    const match = SAMPLE.exec(line.trim());
    if (match === null || line.startsWith('#')) return [];
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const raw = match[3] as string;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    return [{ name: match[1] as string, labels, value }];
  });

/** The sum of the samples of `name` whose labels include `labels` (0 when there is none: a counter not yet touched). */
export const sampleSum = (samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

/** Whether any sample of `name` exists. */
export const hasSeries = (samples: readonly Sample[], name: string): boolean => samples.some((s) => s.name === name);
