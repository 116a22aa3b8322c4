/**
 * The JSON shape of @nestjs/terminus, which Nest teams' probes and dashboards read: `status` ('ok' | 'error'), then
 * every checked dependency ("indicator") in `details`, the up ones again in `info` and the down ones in `error`.
 */
export interface Indicator {
  readonly status: 'up' | 'down';
  readonly message?: string;
  readonly [detail: string]: unknown;
}

export interface HealthReport {
  readonly status: 'ok' | 'error';
  readonly info: Readonly<Record<string, Indicator>>;
  readonly error: Readonly<Record<string, Indicator>>;
  readonly details: Readonly<Record<string, Indicator>>;
}

export const up = (detail: Readonly<Record<string, unknown>> = {}): Indicator => ({ ...detail, status: 'up' });

export const down = (message: string, detail: Readonly<Record<string, unknown>> = {}): Indicator => ({ ...detail, status: 'down', message });

export const healthReport = (indicators: Readonly<Record<string, Indicator>>): HealthReport => {
  const entries = Object.entries(indicators);
  const error = Object.fromEntries(entries.filter(([, indicator]) => indicator.status === 'down'));
  return {
    status: Object.keys(error).length === 0 ? 'ok' : 'error',
    info: Object.fromEntries(entries.filter(([, indicator]) => indicator.status === 'up')),
    error,
    details: indicators,
  };
};

/** One line for the envelope's message: which dependencies are down, and why. */
export const downSummary = (report: HealthReport): string =>
  `not ready: ${Object.entries(report.error)
    .map(([name, indicator]) => `${name} (${indicator.message ?? 'down'})`)
    .join(', ')}`;
