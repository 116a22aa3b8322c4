import path from 'node:path';
import { ServerProcess } from '../e2e/support/server';

/**
 * The build the chaos suite runs: `dist/` (what `npm run build` made), or CHAOS_DIST_DIR — long mode (`npm run chaos`)
 * runs a private copy of the fresh build, so a rebuild in the same checkout during a long run cannot pull the
 * server or the audit CLI from under it.
 */
export const distRoot = (): string => path.resolve(process.env.CHAOS_DIST_DIR || path.resolve(__dirname, '../../dist'));
export const apiMain = (): string => path.join(distRoot(), 'apps/api/src/main.js');
export const auditCli = (): string => path.join(distRoot(), 'apps/audit/src/main.js');

/** The built server as the e2e suites start it (same environment defaults), run from `distRoot()`. */
export class ChaosServer extends ServerProcess {
  constructor(env: Record<string, string> = {}) {
    super({ env, main: apiMain(), label: 'chaos' });
  }
}
