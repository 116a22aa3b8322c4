import { CommandIo } from './command';

/** One line of progress: `verify [#####·····]  50%  1,000/2,000 events  12,345 ev/s`. */
export const renderProgress = (label: string, done: number, total: number, elapsedMs: number, width = 24): string => {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  const percent = String(Math.floor(fraction * 100)).padStart(3);
  return `${label} [${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${percent}%  ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} events  ${rate.toLocaleString('en-US')} ev/s`;
};

export interface Progress {
  update(done: number): void;
  finish(): void;
}

const QUIET: Progress = { update: () => undefined, finish: () => undefined };
const REDRAW_EVERY_MS = 100;

/** A progress bar on stderr when stderr is a terminal; silent otherwise, so logs and pipes stay clean. */
export const progressBar = (io: CommandIo, label: string, total: number, clock: () => number = Date.now): Progress => {
  if (io.stderr.isTTY !== true) return QUIET;
  const started = clock();
  let drawnAt = -Infinity;
  const draw = (done: number): void => {
    io.stderr.write(`\r${renderProgress(label, done, total, clock() - started)}\x1b[K`);
  };
  let last = 0;
  return {
    update(done) {
      last = done;
      if (clock() - drawnAt < REDRAW_EVERY_MS) return;
      drawnAt = clock();
      draw(done);
    },
    finish() {
      draw(last);
      io.stderr.write('\n');
    },
  };
};
