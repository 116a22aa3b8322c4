/**
 * setupFilesAfterEnv of the `e2e-esdb` jest project: every server a suite starts through ServerProcess (and its
 * worker, with WORKER=external) runs on an EventStoreDB stand-in of its own (EVENTSTORE_URL=esdb://…): the TEST-ONLY
 * gRPC stand-in of test/support/esdb-stand-in, NOT EventStoreDB. Started at the server's first start, kept across its
 * restarts, closed when the test file ends (test/e2e/support/e2e-event-store.ts). It needs nothing installed.
 */
import { closeServerStandIns } from '../e2e/support/e2e-event-store';

process.env.E2E_EVENTSTORE = 'esdb';

afterAll(() => closeServerStandIns());
