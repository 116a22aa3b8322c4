/**
 * The EventStoreDB client package, imported in this one place. KurrentDB's maintained successor has the same API
 * shape (client-module.ts absorbs its few renames): swapping is this one import line, i.e.
 * `import * as clientPackage from '@kurrent/kurrentdb-client';`.
 */
import * as clientPackage from '@eventstore/db-client';
import { clientModule, EsdbClientModule } from './client-module';

export const esdbClient: EsdbClientModule = clientModule(clientPackage);
