import { runCommandLine } from '@flash/runtime';
import { runProjections, USAGE } from './projections-cli';

if (require.main === module) void runCommandLine('projections', USAGE, runProjections);
