/**
 * Whether this run is CI: `CI` set to `true` or `1` (any case), as CI systems set it; `.ci/run` exports CI=true.
 * Under CI a test never skips for a missing service: it fails.
 */
export const underCi = (env: NodeJS.ProcessEnv = process.env): boolean => /^(true|1)$/i.test((env.CI ?? '').trim());

/**
 * A `describe` that needs something the machine may lack (a server binary, a service): runs when `available()`;
 * otherwise fails under CI, and skips loudly (a warning and "SKIPPED" in the suite's name) everywhere else.
 */
export const describeRequiring = (requirement: { what: string; available: () => boolean }, name: string, fn: () => void): void => {
  if (requirement.available()) return describe(name, fn);
  if (underCi()) throw new Error(`${requirement.what} is required under CI for "${name}" but is missing`);
  console.warn(`\n*** SKIPPED "${name}": ${requirement.what} is missing ***\n`);
  describe.skip(`${name} (SKIPPED: ${requirement.what} is missing)`, fn);
};
