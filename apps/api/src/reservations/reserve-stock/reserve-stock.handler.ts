import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { availableStock, IdempotencyKeyReused, InvalidCommand, NotFound, Order, QuotaClaim, SaleEnded, SaleNotStarted, SoldOut, claimForKey } from '@flash/domain';
import { CommandMetadata, reservationIdFor } from '@flash/event-store';
import { BuyerQuota, CatalogSale, Clock, CLOCK, GateKeeper, Inventories, LogIndexer, SaleCatalogue, SaleInventory } from '@flash/command-side';
import { APP_CONFIG, AppConfig, Logger, LOGGER } from '@flash/runtime';
import { PurchaseProof } from './purchase-proof';
import { ReservationResult, ReservationView, ReserveStockCommand } from './reserve-stock.command';

export const reservationView = (saleId: string, order: Order, shard: number): ReservationView => ({
  orderId: order.orderId,
  saleId,
  userId: order.userId,
  quantity: order.quantity,
  status: order.placedStatus,
  shard,
  ...(order.expiresAt === undefined ? {} : { expiresAt: new Date(order.expiresAt).toISOString() }),
});

/**
 * A purchase attempt, in API.md's order: (1) a known Idempotency-Key is answered from the buyer stream before anything
 * else; (2) the cheap refusals (timing, a sale the gate just found sold out, purchase proof, quantity), then the
 * eligibility gate; (3) the claim on the buyer stream (per-user limit, durable idempotency); (4) the order on an
 * inventory shard through its group-commit writer. The 201 goes out once both are durable: the claim is appended
 * 'ordered' and the shard's durable append, made after it, covers it; if the shard decided nothing new, the claim's
 * own durability is awaited. A shard's refusal gives the claim and the gate's hold back; an unknown outcome keeps the
 * claim, and a retry with the same key settles it.
 */
@CommandHandler(ReserveStockCommand)
export class ReserveStockHandler implements ICommandHandler<ReserveStockCommand> {
  constructor(
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly catalogue: SaleCatalogue,
    private readonly indexes: LogIndexer,
    private readonly buyers: BuyerQuota,
    private readonly inventories: Inventories,
    private readonly gate: GateKeeper,
    private readonly proof: PurchaseProof,
  ) {}

  async execute(cmd: ReserveStockCommand): Promise<ReservationResult> {
    const sale = this.catalogue.sale(cmd.saleId);
    if (!sale) throw new NotFound('sale', cmd.saleId);
    const buyer = await this.buyers.load(cmd.saleId, cmd.userId);
    const known = claimForKey(buyer.state, cmd.idempotencyKey);
    if (known) return this.replay(sale, cmd, known);

    const now = this.clock.now();
    const { startsAt, endsAt, perUserLimit } = sale.definition;
    if (now < startsAt) throw new SaleNotStarted(cmd.saleId, startsAt - now);
    if (sale.closed || now >= endsAt) throw new SaleEnded(cmd.saleId);
    // Once sold out, most of the crowd is answered here: no token HMAC, no id derivation, no gate call.
    if (this.gate.knownSoldOut(cmd.saleId, now)) throw new SoldOut(cmd.saleId);
    await this.proof.check(sale.definition, cmd.userId, cmd.purchaseToken, cmd.challengeAnswer, now, cmd.receivedAt ?? now);
    if (cmd.quantity > perUserLimit) throw new InvalidCommand(`quantity must be in 1..${perUserLimit}`);
    const inventory = await this.inventories.forSale(cmd.saleId);
    const reservationId = reservationIdFor(cmd.saleId, cmd.userId, cmd.idempotencyKey);
    const shard = await this.gate.admit(sale, cmd.userId, reservationId, cmd.quantity, now);

    let claimed: { claim: QuotaClaim; position: number };
    try {
      claimed = await this.buyers.claim(
        { saleId: cmd.saleId, userId: cmd.userId, reservationId, idempotencyKey: cmd.idempotencyKey, quantity: cmd.quantity, perUserLimit },
        this.metadata(cmd),
        buyer,
      );
    } catch (error) {
      // The store refused (limit) or could not record the claim: the gate's hold goes back.
      await this.gate.releaseHold(cmd.saleId, reservationId);
      throw error;
    }
    const result = await this.place(inventory, cmd, claimed.claim, shard);
    if (!result.created) await this.buyers.whenDurable(claimed.position);
    return result;
  }

  /** The reservation's id is in every event's data; the correlation is the request that asked for it (X-Request-Id). */
  private metadata(cmd: ReserveStockCommand): CommandMetadata {
    return { correlationId: cmd.requestId, userId: cmd.userId, clientIpHash: cmd.clientIpHash, decidedAt: this.clock.now() };
  }

  /** The same key again: the original answer, whatever happened since (a restart included). */
  private async replay(sale: CatalogSale, cmd: ReserveStockCommand, claim: QuotaClaim): Promise<ReservationResult> {
    if (claim.quantity !== cmd.quantity) throw new IdempotencyKeyReused(cmd.idempotencyKey);
    const inventory = await this.inventories.forSale(sale.definition.saleId);
    // Not in this replica's caches: placed on a shard another replica owns, which this one reads only when it needs it
    // (lazy catch-up). The order's location is in the log: read the log to its head, then that one shard.
    const found = inventory.findOrder(claim.reservationId) ?? (await this.inventories.findOrder(claim.reservationId));
    if (found) return { created: false, view: reservationView(cmd.saleId, found.order, found.shard) };
    if (claim.released) throw new SoldOut(cmd.saleId);
    // Past the attempt's window (its purchase token's life) the compensation saga settles the claim, not a retry.
    if (this.clock.now() > claim.claimedAt + this.config.purchaseTokenTtlMs) throw new SoldOut(cmd.saleId);
    // Claimed but never placed: the first attempt's outcome was unknown (a crash, a failed append). Redo it.
    return this.place(inventory, cmd, claim);
  }

  private async place(inventory: SaleInventory, cmd: ReserveStockCommand, claim: QuotaClaim, shard?: number): Promise<ReservationResult> {
    try {
      const outcome = await inventory.reserve(claim.reservationId, cmd.userId, claim.quantity, this.metadata(cmd), shard);
      for (const e of outcome.events) this.indexes.apply(e);
      if (!outcome.order) throw new Error(`reservation ${claim.reservationId} resolved without an order`);
      return { created: outcome.events.length > 0, view: reservationView(cmd.saleId, outcome.order, outcome.shard) };
    } catch (error) {
      if (error instanceof SoldOut) {
        // The gate let through more than the store has: give back the quota and the gate's hold, and lower the
        // gate's counts to what the shards really have.
        await this.giveBackClaim(cmd, claim.reservationId);
        await this.gate.releaseHold(cmd.saleId, claim.reservationId);
        await Promise.all(inventory.writers.map((w) => this.gate.correct(cmd.saleId, w.state.shard, availableStock(w.state))));
      }
      throw error;
    }
  }

  /** Gives the quota back; if that cannot be recorded now, the claim stays pending for the compensation saga. */
  private async giveBackClaim(cmd: ReserveStockCommand, reservationId: string): Promise<void> {
    try {
      await this.buyers.releaseClaim(cmd.saleId, cmd.userId, reservationId, 'sold_out', this.metadata(cmd));
    } catch (error) {
      this.logger.warn({ err: error, reservationId }, 'quota release not recorded; left for compensation');
    }
  }
}
