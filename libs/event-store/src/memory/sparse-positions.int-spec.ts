import { eventStoreContract } from '../../test/event-store.contract';
import { SparseEventStore } from '../../test/sparse-event-store';
import { MemoryEventStore } from './memory-event-store';

// The contract's sparse mode on a store known to be right (the in-memory one, its positions spread out): what the
// EventStoreDB adapter is held to, shown to be satisfiable and not to depend on 1, 2, 3.
eventStoreContract('in-memory, seen through sparse positions', {
  open: () => Promise.resolve(new SparseEventStore(new MemoryEventStore())),
  densePositions: false,
});
