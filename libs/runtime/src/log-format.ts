import type { DestinationStream } from 'pino';

/**
 * LOG_FORMAT: `json` is one JSON object a line (what a collector reads), `pretty` one readable line for a person,
 * `auto` (the default) is pretty when stdout is a terminal and JSON otherwise. Pretty printing is this small
 * formatter, not a dependency: the process writes the same fields either way.
 */
/** A message may carry request-derived text: control characters (terminal escapes) never reach a TTY. */
// eslint-disable-next-line no-control-regex
const withoutControls = (text: string): string => text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '\uFFFD');

export type LogFormat = 'auto' | 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];

const LEVELS: Readonly<Record<number, { label: string; color: string }>> = {
  10: { label: 'TRACE', color: '90' },
  20: { label: 'DEBUG', color: '90' },
  30: { label: 'INFO ', color: '32' },
  40: { label: 'WARN ', color: '33' },
  50: { label: 'ERROR', color: '31' },
  60: { label: 'FATAL', color: '35' },
};

/** Fields every line has, shown in the line's head rather than repeated as key=value. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

const paint = (colors: boolean, code: string, text: string): string => (colors ? `\u001b[${code}m${text}\u001b[0m` : text);

/** Values come from a parsed JSON line, so each has a JSON text. */
const showValue = (value: unknown): string => (typeof value === 'string' && /^[^\s"=]+$/.test(value) ? withoutControls(value) : JSON.stringify(value));

const clockTime = (time: unknown): string => {
  const date = new Date(typeof time === 'number' ? time : Date.now());
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
};

/** One pino JSON line as `12:00:01.234 INFO  message key=value …`, an error's stack indented below it. */
export const prettyLine = (json: string, colors: boolean): string => {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`; // not one of pino's lines: passed through untouched
  }
  const level = LEVELS[typeof entry.level === 'number' ? entry.level : 30] ?? { label: String(entry.level), color: '0' };
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(entry)) {
    if (HEAD_FIELDS.has(key)) continue;
    const err = value as { stack?: unknown } | null;
    if (key === 'err' && err !== null && typeof err === 'object' && typeof err.stack === 'string') stack = err.stack;
    else fields.push(`${paint(colors, '2', `${key}=`)}${showValue(value)}`);
  }
  const head = `${paint(colors, '2', clockTime(entry.time))} ${paint(colors, level.color, level.label)} ${typeof entry.msg === 'string' ? withoutControls(entry.msg) : ''}`;
  const line = [head, ...fields].join('  ').trimEnd();
  return `${line}\n${stack === undefined ? '' : withoutControls(stack).replace(/^/gm, '    ') + '\n'}`;
};

/** A pino destination that writes each line pretty. */
export const prettyDestination = (out: NodeJS.WritableStream, colors: boolean): DestinationStream => ({
  write: (line: string) => out.write(prettyLine(line, colors)),
});

export const resolveLogFormat = (format: LogFormat, isTty: boolean): 'json' | 'pretty' => (format === 'auto' ? (isTty ? 'pretty' : 'json') : format);
