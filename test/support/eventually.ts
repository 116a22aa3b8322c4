/**
 * Waits until `check` holds, polling; fails at the deadline with what was awaited and, when given, what was seen.
 * The deadline is a hang guard, never a speed claim: keep it generous (the machine is shared and has two cores).
 */
export const eventually = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 10, seen }: { timeoutMs?: number; intervalMs?: number; seen?: () => unknown } = {},
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const state = seen === undefined ? '' : `; last seen: ${JSON.stringify(seen())}`;
      throw new Error(`still waiting after ${timeoutMs} ms for ${what}${state}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
};

/**
 * Settles `promise`, or fails with `what` if it has not settled by the deadline: for a step that must finish on its
 * own (nothing the test still does can unblock it), where a hang would otherwise end only at Jest's timeout.
 */
export const settlesWithin = async <T>(what: string, promise: Promise<T>, timeoutMs = 30_000): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
};
