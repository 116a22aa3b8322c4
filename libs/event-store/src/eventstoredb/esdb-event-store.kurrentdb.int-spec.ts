import * as clientPackage from '@kurrent/kurrentdb-client';
import { esdbAdapterSuite } from '../../test/esdb-adapter.suite';
import { clientModule } from './client-module';

// The adapter with @kurrent/kurrentdb-client 1.x, the successor the one-line swap in esdb-client.ts selects.
esdbAdapterSuite(clientModule(clientPackage));
