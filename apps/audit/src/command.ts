/** What every audit command returns: the JSON for stdout and the process exit code. */
export interface CommandResult {
  /** 0 all good, 1 a violation or a bad export, 2 usage error or nothing could be read. */
  readonly exitCode: 0 | 1 | 2;
  readonly report: unknown;
}

/** Where a command may talk to a human: stderr only, and a progress bar only when stderr is a terminal. */
export interface CommandIo {
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

/** The command line is wrong (unknown command or flag, bad value): exit 2 with the usage text, nothing on stdout. */
export class UsageError extends Error {}

/** What the command needs cannot be read (no store, unsupported adapter, missing file, bad key): exit 2, nothing on stdout. */
export class CannotRun extends Error {}
