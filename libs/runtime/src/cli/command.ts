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

/**
 * A CLI's `main`: help on `help`/`--help`, the JSON report on stdout and the command's exit code; a usage error or
 * what could not be read on stderr with exit 2, nothing on stdout.
 */
export const runCommandLine = async (name: string, usage: string, run: (argv: string[], io: CommandIo) => Promise<CommandResult>): Promise<void> => {
  const argv = process.argv.slice(2);
  if (argv[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage + '\n');
    return;
  }
  const io: CommandIo = { stderr: process.stderr, env: process.env };
  try {
    const result = await run(argv, io);
    process.stdout.write(JSON.stringify(result.report, null, 2) + '\n');
    process.exitCode = result.exitCode;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UsageError) process.stderr.write(`${name}: ${message}\n\n${usage}\n`);
    else if (error instanceof CannotRun) process.stderr.write(`${name}: ${message}\n`);
    // Anything else is a fault of the tool itself (or an unreadable store file): say so plainly, still not a verdict.
    else process.stderr.write(`${name}: failed: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
    process.exitCode = 2;
  }
};
