import { CommandIo } from './command';

/**
 * One line of progress: `verify [#####·····]  50%  1,000 events  12,345 ev/s`. The share done is the position reached
 * over the last position to read, not events over events: positions may be sparse (EventStoreDB's are log offsets),
 * so the number of events to come is not known without reading them.
 */
export const renderProgress = (label: string, done: { readonly events: number; readonly position: number }, lastPosition: number, elapsedMs: number, width = 24): string => {
  const fraction = lastPosition > 0 ? Math.min(1, done.position / lastPosition) : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? Math.round((done.events * 1000) / elapsedMs) : 0;
  const percent = String(Math.floor(fraction * 100)).padStart(3);
  return `${label} [${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${percent}%  ${done.events.toLocaleString('en-US')} events  ${rate.toLocaleString('en-US')} ev/s`;
};

export interface Progress {
  /** `events` read so far, through `position`. */
  update(events: number, position: number): void;
  finish(): void;
}

const QUIET: Progress = { update: () => undefined, finish: () => undefined };
const REDRAW_EVERY_MS = 100;

/** A progress bar on stderr when stderr is a terminal (up to `lastPosition`); silent otherwise, so logs and pipes stay clean. */
export const progressBar = (io: CommandIo, label: string, lastPosition: number, clock: () => number = Date.now): Progress => {
  if (io.stderr.isTTY !== true) return QUIET;
  const started = clock();
  let drawnAt = -Infinity;
  const draw = (done: { events: number; position: number }): void => {
    io.stderr.write(`\r${renderProgress(label, done, lastPosition, clock() - started)}\x1b[K`);
  };
  let last = { events: 0, position: 0 };
  return {
    update(events, position) {
      last = { events, position };
      if (clock() - drawnAt < REDRAW_EVERY_MS) return;
      drawnAt = clock();
      draw(last);
    },
    finish() {
      draw(last);
      io.stderr.write('\n');
    },
  };
};
