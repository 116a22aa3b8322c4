import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import type { Logger } from 'pino';
import { BuyerQuota } from './buyer/buyer-quota';
import { CatalogSnapshots } from './catalog/catalog-snapshot';
import { ClaimantIndex } from './catalog/claimant-index';
import { LogIndexer } from './catalog/log-indexer';
import { OrderLocator } from './catalog/order-locator';
import { SaleCatalogue } from './catalog/sale-catalogue';
import { Clock } from './clock';
import { GateDecisionCounter, GateKeeper } from './gate-keeper/gate-keeper';
import { storeTruth } from './gate-keeper/gate-truth';
import { Inventories } from './inventory/inventories';
import { ShardOwnership } from './inventory/shard-ownership';
import { AppendObserver } from './inventory/shard-writer';

export interface CommandSideOptions {
  /** SHARD_MAX_BATCH. */
  readonly maxBatch: number;
  /** Whether this process is the only one that claims in this store (see BuyerQuotaOptions). */
  readonly soleClaimant: boolean;
  /** Hears of every shard append that landed (metrics). */
  readonly onAppended?: AppendObserver;
  /** Which shards this process writes first, late-bound (it watches the inventories): every shard by default. */
  readonly ownership?: ShardOwnership;
  /** Where the indexes are kept between runs (see CatalogSnapshots); without it they are folded from 0 at every start. */
  readonly snapshots?: CatalogSnapshots;
}

/** The command side of one process, wired together: what the api and the worker both run. */
export interface CommandSide {
  readonly catalogue: SaleCatalogue;
  readonly locator: OrderLocator;
  readonly claimants: ClaimantIndex;
  readonly inventories: Inventories;
  readonly indexes: LogIndexer;
  readonly buyers: BuyerQuota;
  /** A gate keeper over this command side's truth (the store, its shard writers, its buyer streams). */
  readonly gateKeeper: (gate: EligibilityGate, logger: Logger, countDecision: GateDecisionCounter) => GateKeeper;
}

/**
 * Builds the command side on a store: the indexes fed by one LogIndexer, whose recorded events also reach the shard
 * writers (appends made by another process are caught up from the log), the inventories and the buyer quota.
 */
export const openCommandSide = (store: EventStore, clock: Clock, logger: Logger, options: CommandSideOptions): CommandSide => {
  const catalogue = new SaleCatalogue();
  const locator = new OrderLocator();
  const claimants = new ClaimantIndex();
  const inventories: Inventories = new Inventories(
    store,
    clock,
    catalogue,
    locator,
    { maxBatch: options.maxBatch, ...(options.onAppended === undefined ? {} : { onAppended: options.onAppended }) },
    (): Promise<void> => indexes.reachHead(),
    options.ownership,
  );
  const indexes: LogIndexer = new LogIndexer(store, [catalogue, locator, ...(options.soleClaimant ? [claimants] : [])], logger.child({ component: 'command-side' }), {
    onRecorded: inventories.observe.bind(inventories),
    ...(options.snapshots === undefined ? {} : { snapshot: { snapshots: options.snapshots, indexes: { catalogue, locator, claimants } } }),
  });
  const buyers = new BuyerQuota(store, claimants, { soleClaimant: options.soleClaimant, clock });
  return {
    catalogue,
    locator,
    claimants,
    inventories,
    indexes,
    buyers,
    gateKeeper: (gate, gateLogger, countDecision) => new GateKeeper(gate, storeTruth(store, inventories, buyers), gateLogger, countDecision),
  };
};
