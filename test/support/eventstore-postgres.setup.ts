/**
 * setupFilesAfterEnv of the `e2e-postgres` jest project: every server a suite starts through ServerProcess (and its
 * worker, with WORKER=external) runs on a PostgreSQL database of its own (EVENTSTORE_URL), created at its first start
 * and dropped when the test file ends, passed or failed (test/e2e/support/e2e-event-store.ts). Without a PostgreSQL
 * server the file fails under CI and is skipped, loudly, everywhere else.
 */
import { postgresAvailable } from '../../libs/event-store/test/postgres-support';
import { dropServerDatabases, POSTGRES_REQUIREMENT } from '../e2e/support/e2e-event-store';
import { underCi } from './ci';

process.env.E2E_EVENTSTORE = 'postgres';

if (postgresAvailable()) {
  afterAll(() => dropServerDatabases());
} else {
  if (underCi()) throw new Error(`${POSTGRES_REQUIREMENT} is required under CI for the e2e-postgres project but is missing`);
  console.warn(`\n*** SKIPPED (e2e-postgres): ${POSTGRES_REQUIREMENT} is missing ***\n`);
  // Every suite of the file is declared skipped, "SKIPPED" in its name, as describeRequiring does for one suite.
  const declare = describe;
  const skipped = (name: string, fn: () => void): void => declare.skip(`${name} (SKIPPED: ${POSTGRES_REQUIREMENT} is missing)`, fn);
  globalThis.describe = Object.assign(skipped, declare);
}
