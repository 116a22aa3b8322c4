import * as clientPackage from '@eventstore/db-client';
import { esdbAdapterSuite } from '../../test/esdb-adapter.suite';
import { clientModule } from './client-module';

// The adapter with @eventstore/db-client 6.x (the kurrentdb client runs in a file of its own: see the suite).
esdbAdapterSuite(clientModule(clientPackage));
