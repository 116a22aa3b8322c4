import { runCommandLine } from '../../audit/src/command';
import { runProjections, USAGE } from './projections-cli';

if (require.main === module) void runCommandLine('projections', USAGE, runProjections);
