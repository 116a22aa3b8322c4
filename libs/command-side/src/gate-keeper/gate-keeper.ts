import { availableStock, LimitExceeded, RetryLater, SaleEnded, SaleNotStarted, ShardState, SoldOut } from '@flash/domain';
import { EligibilityGate, GateHold, GateRefusal, GateUnavailable } from '@flash/gate';
import type { Logger } from 'pino';
import { CatalogSale } from '../catalog/sale-catalogue';

/**
 * The store's truth, as the gate keeper needs it: handed in, so that a filter in front of the store knows no store.
 * `storeTruth` (gate-truth.ts) is the one implementation outside tests.
 */
export interface GateTruth {
  /** Every shard of the sale folded from the store: what a rebuild loads into the gate. */
  shardStates(sale: CatalogSale): Promise<ShardState[]>;
  /** Whether some shard can still serve `quantity`, by the shard writers this process trusts. */
  canServe(saleId: string, quantity: number): Promise<boolean>;
  /** Units the buyer holds claimed in the sale, by their stream. */
  claimedQuantity(saleId: string, userId: string): Promise<number>;
  /** The shard the gate should take stock from first: one this process owns (SaleInventory.startShard). */
  startShard(sale: CatalogSale, reservationId: string): Promise<number>;
}

/** Counts the gate's decisions (metrics), by outcome. */
export type GateDecisionCounter = (outcome: string) => void;

/** How long a SOLD_OUT answer is trusted locally before the gate is asked again (stock can come back). */
const SOLD_OUT_MEMORY_MS = 500;
/** A sale id no sale has: the readiness probe asks the gate about it (one EXISTS on Redis). */
const READINESS_PROBE_SALE = '$readiness-probe';
/** A refusal of the gate is checked against the store at most this often per sale (see `refusalIsStale`). */
const STALE_CHECK_INTERVAL_MS = 1000;
/** Admissions this recent may still be on their way to the store: the gate rightly holds their stock meanwhile. */
const ADMISSION_SETTLE_MS = 2000;

/**
 * The command side's use of the eligibility gate: admit before the store, correct the gate when the store
 * disagrees, and rebuild a sale's gate state from the store when it is missing (first use, or Redis lost its data).
 * While a rebuild runs, admissions for that sale wait for it; while Redis is unreachable they are refused with a
 * retryable 503 — the store is never asked to absorb a spike the filter cannot see.
 */
export class GateKeeper {
  private readonly rebuilds = new Map<string, Promise<void>>();
  private readonly soldOutUntil = new Map<string, number>();
  /** Wall-clock time of this process's last admission and last stale-refusal check, per sale. */
  private readonly lastAdmitted = new Map<string, number>();
  private readonly lastStaleCheck = new Map<string, number>();
  private unavailableSince: number | undefined;

  constructor(
    private readonly gate: EligibilityGate,
    private readonly truth: GateTruth,
    private readonly logger: Logger,
    private readonly countDecision: GateDecisionCounter,
  ) {}

  /** Whether the gate refused this sale as sold out moments ago: the cheapest refusal, before the token is checked. */
  knownSoldOut(saleId: string, now: number): boolean {
    if ((this.soldOutUntil.get(saleId) ?? 0) <= now) return false;
    this.countDecision('SOLD_OUT_CACHED');
    return true;
  }

  /** Admits an attempt or throws the refusal; returns the shard the gate set aside stock on. */
  async admit(sale: CatalogSale, userId: string, reservationId: string, quantity: number, now: number): Promise<number> {
    const saleId = sale.definition.saleId;
    if (this.knownSoldOut(saleId, now)) throw new SoldOut(saleId);
    const request = {
      saleId,
      userId,
      reservationId,
      quantity,
      now,
      startShard: await this.truth.startShard(sale, reservationId),
      takeStock: sale.definition.inventoryMode !== 'on-payment',
    };
    let verdict = await this.call(() => this.gate.admit(request));
    if (verdict.kind === 'not-loaded' || (verdict.kind === 'refused' && (await this.refusalIsStale(sale, verdict.code, userId, quantity)))) {
      await this.rebuild(sale);
      verdict = await this.call(() => this.gate.admit(request));
    }
    this.countDecision(verdict.kind === 'refused' ? verdict.code : verdict.kind);
    switch (verdict.kind) {
      case 'admitted':
        this.lastAdmitted.set(saleId, Date.now());
        return verdict.shard;
      case 'known':
        return verdict.shard;
      case 'not-loaded':
        throw new RetryLater('NOT_READY', 'the eligibility gate is being rebuilt; retry shortly', 500);
      case 'refused':
        switch (verdict.code) {
          case 'SOLD_OUT':
            this.soldOutUntil.set(saleId, now + SOLD_OUT_MEMORY_MS);
            throw new SoldOut(saleId);
          case 'LIMIT_EXCEEDED':
            throw new LimitExceeded(saleId, sale.definition.perUserLimit);
          case 'SALE_NOT_STARTED':
            throw new SaleNotStarted(saleId, sale.definition.startsAt - now);
          case 'SALE_ENDED':
            throw new SaleEnded(saleId);
        }
    }
  }

  /**
   * The gate can hold admissions that will never reach the store: the api killed between the gate's admit and the
   * buyer's claim, an admit whose reply was lost with its Redis connection (the client got a 503 and went away), a
   * release that could not be sent. Nothing gives such a hold back (no claim, no order, no saga sees it), so the
   * gate would refuse stock or quota the store still has, for good. A refusal is stale when the store can serve it
   * and no admission of this process is recent enough to still be on its way there: then the gate is rebuilt from
   * the store, as after a Redis loss. Checked at most once per STALE_CHECK_INTERVAL_MS per sale, against this
   * process's shard writers (stock) and the buyer's stream (quota). The rebuild may drop another instance's
   * admission in flight; the store refuses what the gate lets through beyond its stock, so that costs a retry, never
   * an oversell.
   */
  private async refusalIsStale(sale: CatalogSale, code: GateRefusal, userId: string, quantity: number): Promise<boolean> {
    if (code !== 'SOLD_OUT' && code !== 'LIMIT_EXCEEDED') return false;
    const saleId = sale.definition.saleId;
    const wall = Date.now();
    if (wall - (this.lastAdmitted.get(saleId) ?? 0) < ADMISSION_SETTLE_MS) return false;
    if (wall - (this.lastStaleCheck.get(saleId) ?? 0) < STALE_CHECK_INTERVAL_MS) return false;
    this.lastStaleCheck.set(saleId, wall);
    const stale =
      code === 'SOLD_OUT'
        ? await this.truth.canServe(saleId, quantity)
        : (await this.truth.claimedQuantity(saleId, userId)) + quantity <= sale.definition.perUserLimit;
    if (stale) this.logger.warn({ saleId, refusal: code }, 'the gate refused what the store can serve: rebuilding it from the event store');
    return stale;
  }

  /** Gives an admitted attempt's stock and quota back in the gate (the store refused it, or its hold ended). */
  async releaseHold(saleId: string, reservationId: string): Promise<void> {
    this.soldOutUntil.delete(saleId);
    await this.call(() => this.gate.release(saleId, reservationId)).catch((error: unknown) =>
      this.logger.warn({ err: error, saleId, reservationId }, 'gate release failed; the next rebuild converges it'),
    );
  }

  async correct(saleId: string, shard: number, available: number): Promise<void> {
    await this.call(() => this.gate.correct(saleId, shard, available)).catch(() => undefined);
  }

  /** Rebuilds one sale's gate state from the shard streams (single flight per sale). */
  rebuild(sale: CatalogSale): Promise<void> {
    const saleId = sale.definition.saleId;
    let running = this.rebuilds.get(saleId);
    if (!running) {
      running = this.loadFromStore(sale).finally(() => this.rebuilds.delete(saleId));
      this.rebuilds.set(saleId, running);
    }
    return running;
  }

  private async loadFromStore(sale: CatalogSale): Promise<void> {
    const started = Date.now();
    const shards = await this.truth.shardStates(sale);
    const holds: GateHold[] = [];
    for (const s of shards) {
      for (const o of s.orders.values()) {
        if (o.status !== 'reserved' && o.status !== 'placed' && o.status !== 'paid') continue;
        holds.push({ reservationId: o.orderId, userId: o.userId, shard: s.shard, quantity: o.quantity, stockTaken: o.stockTaken });
      }
    }
    const { saleId, startsAt, endsAt, perUserLimit } = sale.definition;
    await this.call(() =>
      this.gate.load({
        saleId,
        startsAt,
        endsAt: sale.closed ? Math.min(endsAt, startsAt) : endsAt,
        perUserLimit,
        available: shards.map((s) => availableStock(s)),
        holds,
      }),
    );
    this.soldOutUntil.delete(saleId);
    this.logger.info({ saleId, holds: holds.length, ms: Date.now() - started }, 'gate rebuilt from the event store');
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      const result = await op();
      if (this.unavailableSince !== undefined) {
        this.logger.info({ pausedMs: Date.now() - this.unavailableSince }, 'eligibility gate reachable again');
        this.unavailableSince = undefined;
      }
      return result;
    } catch (error) {
      if (!(error instanceof GateUnavailable)) throw error;
      if (this.unavailableSince === undefined) {
        this.unavailableSince = Date.now();
        this.logger.warn({ err: error }, 'eligibility gate unreachable: admissions paused');
      }
      throw new RetryLater('OVERLOADED', 'admissions are paused while the eligibility gate is unreachable', 1000);
    }
  }

  /** For /health/ready: false while a rebuild runs or the gate is unreachable. */
  get ready(): boolean {
    return this.rebuilds.size === 0 && this.unavailableSince === undefined;
  }

  /**
   * `ready`, after asking the gate once (one read of a sale that never exists): only a gate call notices that Redis
   * went away or came back, and without this probe a quiet instance would report a dead gate as up, and one taken
   * out of rotation for being unready would get no purchase to make that call, and stay unready for good.
   */
  async probeReady(): Promise<boolean> {
    await this.call(() => this.gate.inspect(READINESS_PROBE_SALE)).catch(() => undefined);
    return this.ready;
  }

  inspect(saleId: string) {
    return this.gate.inspect(saleId);
  }
}
