import path from 'node:path';
import { Provider } from '@nestjs/common';
import {
  CATALOG_SNAPSHOT_FILE,
  BuyerQuota,
  ClaimantIndex,
  Clock,
  CLOCK,
  CommandSide,
  GateKeeper,
  Inventories,
  LogIndexer,
  openCommandSide,
  OrderLocator,
  SaleCatalogue,
  SqliteCatalogSnapshots,
} from '@flash/command-side';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { AppConfig, EVENT_STORE, LeasedShardOwnership, Logger, LOGGER, openShardLeases } from '@flash/runtime';
import { HotPathCounters } from './metrics/hot-path-counters';

export const ELIGIBILITY_GATE = Symbol('ELIGIBILITY_GATE');

const COMMAND_SIDE = Symbol('COMMAND_SIDE');
/** This replica's shard leases (several replicas on one store), or null: it owns every shard. */
export const SHARD_LEASES = Symbol('SHARD_LEASES');

/** The command side's libraries (libs/command-side), wired to this process's store, gate, clock and metrics. */
export const commandSideProviders = (config: AppConfig): Provider[] => {
  let loaded: CommandSide | undefined;
  return [
    {
      provide: SHARD_LEASES,
      // Watches the inventories the command side loads: bound late, as the command side is built with it.
      useFactory: (logger: Logger): LeasedShardOwnership | null => openShardLeases(config, () => loaded?.inventories.shardStock() ?? [], logger) ?? null,
      inject: [LOGGER],
    },
    {
      provide: COMMAND_SIDE,
      useFactory: (store: EventStore, clock: Clock, logger: Logger, counters: HotPathCounters, leases: LeasedShardOwnership | null): CommandSide => {
        loaded = openCommandSide(store, clock, logger, {
          maxBatch: config.shardMaxBatch,
          // Only this process claims in an embedded store of its own (the worker releases, it never claims).
          soleClaimant: config.eventStoreUrl === undefined && config.inMemoryStore !== true,
          onAppended: counters.shardAppended.bind(counters),
          ...(leases === null ? {} : { ownership: leases }),
          // Beside the embedded store whose positions it names: a restart replays the log from it, not from 0.
          ...(config.eventStoreUrl === undefined && config.inMemoryStore !== true
            ? { snapshots: new SqliteCatalogSnapshots(path.join(config.dataDir, CATALOG_SNAPSHOT_FILE)) }
            : {}),
        });
        leases?.start();
        return loaded;
      },
      inject: [EVENT_STORE, CLOCK, LOGGER, HotPathCounters, SHARD_LEASES],
    },
    { provide: SaleCatalogue, useFactory: (side: CommandSide) => side.catalogue, inject: [COMMAND_SIDE] },
    { provide: OrderLocator, useFactory: (side: CommandSide) => side.locator, inject: [COMMAND_SIDE] },
    { provide: ClaimantIndex, useFactory: (side: CommandSide) => side.claimants, inject: [COMMAND_SIDE] },
    { provide: Inventories, useFactory: (side: CommandSide) => side.inventories, inject: [COMMAND_SIDE] },
    { provide: LogIndexer, useFactory: (side: CommandSide) => side.indexes, inject: [COMMAND_SIDE] },
    { provide: BuyerQuota, useFactory: (side: CommandSide) => side.buyers, inject: [COMMAND_SIDE] },
    {
      provide: GateKeeper,
      useFactory: (side: CommandSide, gate: EligibilityGate, logger: Logger, counters: HotPathCounters) =>
        side.gateKeeper(gate, logger.child({ component: 'gate' }), counters.gateDecided.bind(counters)),
      inject: [COMMAND_SIDE, ELIGIBILITY_GATE, LOGGER, HotPathCounters],
    },
  ];
};
