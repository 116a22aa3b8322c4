const started = Date.now();

/** Progress goes to stderr, so stdout carries only the results table. */
export const progress = (message: string): void => {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t}s] ${message}\n`);
};

/** A line nobody can miss in a scrolling log. */
export const loud = (message: string): void => {
  const bar = '!'.repeat(Math.min(100, message.length + 8));
  process.stderr.write(`\n${bar}\n!!! ${message} !!!\n${bar}\n\n`);
};
