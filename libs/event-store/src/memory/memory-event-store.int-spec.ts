import { MemoryEventStore } from '@flash/event-store';
import { eventStoreContract } from '../../test/event-store.contract';

// Nothing survives the process, so there is no `reopen`: the durability tests are skipped for this adapter.
eventStoreContract('memory', { open: () => Promise.resolve(new MemoryEventStore()) });
