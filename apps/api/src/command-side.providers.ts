import { Provider } from '@nestjs/common';
import {
  BuyerQuota,
  ClaimantIndex,
  Clock,
  CLOCK,
  GateKeeper,
  Inventories,
  LogIndexer,
  OrderLocator,
  SaleCatalogue,
  storeTruth,
} from '@flash/command-side';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { AppConfig, EVENT_STORE, Logger, LOGGER } from '@flash/runtime';
import { HotPathCounters } from './metrics/hot-path-counters';

export const ELIGIBILITY_GATE = Symbol('ELIGIBILITY_GATE');

/** The command side's libraries (libs/command-side), wired to this process's store, gate, clock and metrics. */
export const commandSideProviders = (config: AppConfig): Provider[] => [
  { provide: SaleCatalogue, useValue: new SaleCatalogue() },
  { provide: OrderLocator, useValue: new OrderLocator() },
  { provide: ClaimantIndex, useValue: new ClaimantIndex() },
  {
    provide: Inventories,
    useFactory: (store: EventStore, clock: Clock, catalogue: SaleCatalogue, locator: OrderLocator) =>
      new Inventories(store, clock, catalogue, locator, { maxBatch: config.shardMaxBatch }),
    inject: [EVENT_STORE, CLOCK, SaleCatalogue, OrderLocator],
  },
  {
    provide: LogIndexer,
    useFactory: (store: EventStore, catalogue: SaleCatalogue, locator: OrderLocator, claimants: ClaimantIndex, inventories: Inventories, logger: Logger) =>
      new LogIndexer(store, [catalogue, locator, claimants], logger.child({ component: 'command-side' }), {
        // Appends made by another process (the worker's expiries, in WORKER=external) reach this process's shard writers.
        onRecorded: inventories.observe.bind(inventories),
      }),
    inject: [EVENT_STORE, SaleCatalogue, OrderLocator, ClaimantIndex, Inventories, LOGGER],
  },
  {
    provide: BuyerQuota,
    useFactory: (store: EventStore, claimants: ClaimantIndex, clock: Clock) =>
      new BuyerQuota(store, claimants, {
        // Only this process claims in an embedded store of its own (the worker releases, it never claims).
        soleClaimant: config.eventStoreUrl === undefined && config.inMemoryStore !== true,
        clock,
      }),
    inject: [EVENT_STORE, ClaimantIndex, CLOCK],
  },
  {
    provide: GateKeeper,
    useFactory: (gate: EligibilityGate, store: EventStore, inventories: Inventories, buyers: BuyerQuota, logger: Logger, counters: HotPathCounters) =>
      new GateKeeper(gate, storeTruth(store, inventories, buyers), logger.child({ component: 'gate' }), counters.gateDecided.bind(counters)),
    inject: [ELIGIBILITY_GATE, EVENT_STORE, Inventories, BuyerQuota, LOGGER, HotPathCounters],
  },
];
