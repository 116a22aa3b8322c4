import * as kurrent from '@kurrent/kurrentdb-client';
import { standInSuite } from './stand-in.suite';

// The TEST-ONLY EventStoreDB stand-in through @kurrent/kurrentdb-client 1.x (appends over grpc-js, reads through
// its Rust bridge); esdb-stand-in.int-spec.ts runs the same suite through @eventstore/db-client.
standInSuite('kurrentdb', kurrent, (url) => kurrent.KurrentDBClient.connectionString(url));
