import * as esdb from '@eventstore/db-client';
import { standInSuite } from './stand-in.suite';

// The TEST-ONLY EventStoreDB stand-in through @eventstore/db-client 6.x; esdb-stand-in.kurrentdb.int-spec.ts runs the
// same suite through @kurrent/kurrentdb-client (a file of its own: the two packages cannot share one).
standInSuite('esdb', esdb, (url) => esdb.EventStoreDBClient.connectionString(url));
