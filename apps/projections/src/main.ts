import { CommandIo } from '../../audit/src/command';
import { CannotRun, runProjections, USAGE, UsageError } from './projections-cli';

const main = async (): Promise<void> => {
  const argv = process.argv.slice(2);
  if (argv[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const io: CommandIo = { stderr: process.stderr, env: process.env };
  try {
    const result = await runProjections(argv, io);
    process.stdout.write(JSON.stringify(result.report, null, 2) + '\n');
    process.exitCode = result.exitCode;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UsageError) process.stderr.write(`projections: ${message}\n\n${USAGE}\n`);
    else if (error instanceof CannotRun) process.stderr.write(`projections: ${message}\n`);
    else process.stderr.write(`projections: failed: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
    process.exitCode = 2;
  }
};

if (require.main === module) void main();
