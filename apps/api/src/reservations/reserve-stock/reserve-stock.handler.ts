import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import {
  availableStock,
  buyerDecider,
  BuyerState,
  buyerStream,
  claimForKey,
  IdempotencyKeyReused,
  initialBuyerState,
  NotFound,
  Order,
  QuotaClaim,
  QuotaReleaseReason,
  SaleEnded,
  SaleNotStarted,
  SoldOut,
} from '@flash/domain';
import {
  CommandMetadata,
  DuplicateEventId,
  encodeEvent,
  EventStore,
  LoadedStream,
  loadStream,
  NO_STREAM,
  reservationIdFor,
  WrongExpectedRevision,
} from '@flash/event-store';
import { ProofOfWork, PurchaseTokens } from '@flash/access';
import { BuyerQuota } from '@flash/worker';
import { Clock, CLOCK } from '../../clock';
import { APP_CONFIG, AppConfig } from '../../config';
import { GateKeeper } from '../../gate/gate-keeper';
import { ApiError } from '../../http/error-catalogue';
import { Logger, LOGGER } from '../../logger';
import { InventoryService } from '../../inventory/inventory.service';
import { SaleInventory } from '../../inventory/sale-inventory';
import { CatalogSale, SaleCatalog } from '../../sales/sale-catalog';
import { EVENT_STORE } from '../../store/event-store.provider';
import { ReservationBody, ReservationResult, ReserveStockCommand } from './reserve-stock.command';

const MAX_CLAIM_ATTEMPTS = 8;

export const reservationBody = (saleId: string, order: Order, shard: number): ReservationBody => ({
  orderId: order.orderId,
  saleId,
  userId: order.userId,
  quantity: order.quantity,
  status: order.placedStatus,
  shard,
  ...(order.expiresAt === undefined ? {} : { expiresAt: new Date(order.expiresAt).toISOString() }),
});

/**
 * A purchase attempt: (1) a known Idempotency-Key is answered from the buyer stream before anything else;
 * (2) the cheap refusals (timing, a sale the gate just found sold out, token, quantity, stock filter); (3) QuotaClaimed on the buyer stream under the
 * key (per-user limit, durable idempotency; the claim's event id is the key's, so a key the user already claimed
 * under in another sale is refused there by the store, 422); (4) [StockReserved, OrderPlaced] on one inventory shard through its
 * group-commit writer. The 201 is sent only after both appends are durable: the claim is appended 'ordered', and
 * the shard's durable append, committed after it, makes it durable too (one wait for the disk, not two). If the
 * shard refuses, the claim is released; if its outcome is unknown, the claim stays and a retry with the same key
 * settles it.
 */
@CommandHandler(ReserveStockCommand)
export class ReserveStockHandler implements ICommandHandler<ReserveStockCommand> {
  private readonly quota: BuyerQuota;
  private readonly soleWriter: boolean;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly catalog: SaleCatalog,
    private readonly inventory: InventoryService,
    private readonly tokens: PurchaseTokens,
    private readonly challenges: ProofOfWork,
    private readonly gate: GateKeeper,
  ) {
    this.quota = new BuyerQuota(store, () => clock.now());
    this.soleWriter = config.eventStoreUrl === undefined && config.inMemoryStore !== true;
  }

  async execute(cmd: ReserveStockCommand): Promise<ReservationResult> {
    const sale = this.catalog.sale(cmd.saleId);
    if (!sale) throw new NotFound('sale', cmd.saleId);
    const buyer = await this.loadBuyer(cmd);
    const known = claimForKey(buyer.state, cmd.idempotencyKey);
    if (known) return this.replay(sale, cmd, known);

    const now = this.clock.now();
    const { startsAt, endsAt, perUserLimit } = sale.definition;
    if (now < startsAt) throw new SaleNotStarted(cmd.saleId, startsAt - now);
    if (sale.closed || now >= endsAt) throw new SaleEnded(cmd.saleId);
    // Once sold out, most of the crowd is answered here: no token HMAC, no id derivation, no gate call.
    if (this.gate.knownSoldOut(cmd.saleId, now)) throw new SoldOut(cmd.saleId);
    if (!this.tokens.verify(cmd.purchaseToken, cmd.userId, cmd.saleId, now)) {
      throw new ApiError('INVALID_PURCHASE_TOKEN', 'the purchase token is missing, expired, or not for this user and sale');
    }
    if (sale.definition.challenge === 'pow') {
      const verdict = await this.challenges.verify(cmd.challengeAnswer, cmd.userId, cmd.saleId, now);
      if (!verdict.ok) throw new ApiError('CHALLENGE_FAILED', verdict.reason);
    }
    if (cmd.quantity > perUserLimit) throw new ApiError('VALIDATION_FAILED', `quantity must be in 1..${perUserLimit}`);
    const inventory = await this.inventory.forSale(cmd.saleId);
    const reservationId = reservationIdFor(cmd.saleId, cmd.userId, cmd.idempotencyKey);
    const shard = await this.gate.admit(sale, cmd.userId, reservationId, cmd.quantity, now);

    let claim: QuotaClaim;
    try {
      claim = await this.claim(sale, cmd, buyer);
    } catch (error) {
      // The store refused (limit) or could not record the claim: the gate's hold goes back.
      await this.gate.release(cmd.saleId, reservationId);
      throw error;
    }
    const result = await this.place(inventory, cmd, claim, shard);
    // The claim was appended 'ordered' and the shard's durable append made it durable. Should the shard have found
    // this reservation already decided (no append), wait here for the claim's own sync: reading the stream back
    // waits for the sync of everything it reads.
    if (!result.created) await this.readBuyer(cmd);
    return result;
  }

  /**
   * With the embedded store this process writes every buyer stream and the catalog knows every claimant, so a buyer
   * who never claimed (most attempts in a spike, all of them once sold out) costs no read. Elsewhere, always read.
   */
  private async loadBuyer(cmd: ReserveStockCommand): Promise<LoadedStream<BuyerState>> {
    if (this.soleWriter && !this.catalog.mayHaveClaimed(cmd.saleId, cmd.userId)) {
      return { state: initialBuyerState(cmd.saleId, cmd.userId), expectedRevision: NO_STREAM, position: 0 };
    }
    return this.readBuyer(cmd);
  }

  private readBuyer(cmd: ReserveStockCommand): Promise<LoadedStream<BuyerState>> {
    return loadStream(this.store, buyerStream(cmd.saleId, cmd.userId), buyerDecider.evolve, initialBuyerState(cmd.saleId, cmd.userId));
  }

  private metadata(cmd: ReserveStockCommand, reservationId: string): CommandMetadata {
    return { correlationId: reservationId, userId: cmd.userId, clientIpHash: cmd.clientIpHash, decidedAt: this.clock.now() };
  }

  /** The same key again: the original answer, whatever happened since (a restart included). */
  private async replay(sale: CatalogSale, cmd: ReserveStockCommand, claim: QuotaClaim): Promise<ReservationResult> {
    if (claim.quantity !== cmd.quantity) throw new IdempotencyKeyReused(cmd.idempotencyKey);
    const inventory = await this.inventory.forSale(sale.definition.saleId);
    const found = inventory.findOrder(claim.reservationId);
    if (found) return { created: false, body: reservationBody(cmd.saleId, found.order, found.shard) };
    if (claim.released) throw new SoldOut(cmd.saleId);
    // Past the attempt's window (its purchase token's life) the compensation saga settles the claim, not a retry.
    if (this.clock.now() > claim.claimedAt + this.config.purchaseTokenTtlMs) throw new SoldOut(cmd.saleId);
    // Claimed but never placed: the first attempt's outcome was unknown (a crash, a failed append). Redo it.
    return this.place(inventory, cmd, claim);
  }

  private async claim(sale: CatalogSale, cmd: ReserveStockCommand, loaded: LoadedStream<BuyerState>): Promise<QuotaClaim> {
    const streamId = buyerStream(cmd.saleId, cmd.userId);
    const reservationId = reservationIdFor(cmd.saleId, cmd.userId, cmd.idempotencyKey);
    let buyer = loaded;
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      const events = buyerDecider.decide(
        {
          type: 'ClaimQuota',
          saleId: cmd.saleId,
          userId: cmd.userId,
          reservationId,
          idempotencyKey: cmd.idempotencyKey,
          quantity: cmd.quantity,
          perUserLimit: sale.definition.perUserLimit,
        },
        buyer.state,
        this.clock.now(),
      );
      const metadata = this.metadata(cmd, reservationId);
      try {
        if (events.length > 0) {
          this.catalog.noteClaimant(cmd.saleId, cmd.userId);
          // Ordered, not durable: nothing is acknowledged on the claim alone. The 201 waits for the shard's durable
          // append, a refusal for the durable release, and either one's sync covers this earlier commit.
          await this.store.append(streamId, events.map((e) => encodeEvent(streamId, e, metadata)), buyer.expectedRevision, { durability: 'ordered' });
        }
        const state = events.reduce(buyerDecider.evolve, buyer.state);
        return claimForKey(state, cmd.idempotencyKey) as QuotaClaim;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevision) && !(error instanceof DuplicateEventId)) throw error;
        buyer = await this.readBuyer(cmd);
        // The claim's id is the buyer's key's (eventIdFor): stored, yet not in this sale's stream, it was claimed in another sale.
        if (error instanceof DuplicateEventId && claimForKey(buyer.state, cmd.idempotencyKey) === undefined) {
          throw new IdempotencyKeyReused(cmd.idempotencyKey);
        }
      }
    }
    throw new ApiError('OVERLOADED', 'too many concurrent attempts for this buyer, retry with the same Idempotency-Key');
  }

  private async place(inventory: SaleInventory, cmd: ReserveStockCommand, claim: QuotaClaim, shard?: number): Promise<ReservationResult> {
    try {
      const outcome = await inventory.reserve(claim.reservationId, cmd.userId, claim.quantity, this.metadata(cmd, claim.reservationId), shard);
      for (const e of outcome.events) this.catalog.apply(e);
      if (!outcome.order) throw new Error(`reservation ${claim.reservationId} resolved without an order`);
      return { created: outcome.events.length > 0, body: reservationBody(cmd.saleId, outcome.order, outcome.shard) };
    } catch (error) {
      if (error instanceof SoldOut) {
        // The gate let through more than the store has: give back the quota and the gate's hold, and lower the
        // gate's counts to what the shards really have.
        await this.release(cmd, claim.reservationId, 'sold_out');
        await this.gate.release(cmd.saleId, claim.reservationId);
        await Promise.all(inventory.writers.map((w) => this.gate.correct(cmd.saleId, w.state.shard, availableStock(w.state))));
      }
      throw error;
    }
  }

  /** Gives the quota back; if that cannot be recorded now, the claim stays pending for the compensation saga. */
  private async release(cmd: ReserveStockCommand, reservationId: string, reason: QuotaReleaseReason): Promise<void> {
    try {
      await this.quota.release(cmd.saleId, cmd.userId, reservationId, reason, this.metadata(cmd, reservationId));
    } catch (error) {
      this.logger.warn({ err: error, reservationId }, 'quota release not recorded; left for compensation');
    }
  }
}
