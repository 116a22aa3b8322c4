import { DomainEvent } from '@flash/domain';
import { reservationIdFor } from '@flash/event-store';
import type { SaleVerdict } from '../../apps/audit/src/audit-model';
import { AuditRun, CheckedSale, foldStore, OwnerRead, ownerReadKey, REPLAY_PHASE, RETRY_PHASE, RunEvidence, StoreView } from './checker';
import { History, ReservationAnswer, ReservationValue } from './history';

/** When the synthetic orders were placed, and how long a hold lasts. */
export const PLACED_AT = 1_800_000_000_000;
export const HOLD_TTL_MS = 60_000;

type Details = { status?: number; code?: string; retryable?: boolean; retryAfter?: string };

/** One request of the synthetic history, waiting for its answer. */
export class Attempt {
  constructor(
    private readonly history: History,
    private readonly op: number,
    private readonly honest: ReservationAnswer,
  ) {}

  /** Acknowledged with an order: the honest answer for the request, with `lie` changed. */
  ok(lie: Partial<ReservationAnswer> = {}, status = 201): void {
    const body = { ...this.honest, ...lie };
    this.history.complete(this.op, 'ok', { status, body, orderId: body.orderId });
  }

  /** A definite refusal (4xx). */
  refused(code = 'SOLD_OUT', status = 409): void {
    this.history.complete(this.op, 'fail', { status, code, retryable: false });
  }

  /** No definite answer: a timeout by default, or a 5xx with `details`. */
  unknown(details: Details = { code: 'TIMEOUT' }): void {
    this.history.complete(this.op, 'unknown', details);
  }
}

export interface PlaceOptions {
  readonly quantity?: number;
  readonly shard?: number;
  /** Whether the store had it as the run left it, after the checker's retries and replays, or both. */
  readonly seen?: 'always' | 'only-before-check' | 'only-after-check';
}

export interface AuditChange {
  readonly exitCode?: number;
  readonly stderr?: string;
  /** The sale's counts as the audit reports them, or 'missing' when the audit does not list the sale. */
  readonly sale?: Partial<Pick<SaleVerdict, 'allocated' | 'reserved' | 'released' | 'available'>> | 'missing';
}

/**
 * A synthetic run for the checker's self-test: the client's history (run, the checker's retries, its replays), the
 * store's events as the run left it and after the check, the owners' reads and the audit. Whatever a case does not
 * say is honest: every acknowledged key is replayed with its first answer, read back as its owner as acknowledged,
 * and the audit's counts are the store's.
 */
export class SyntheticRun {
  readonly sale: CheckedSale;
  readonly history: History;
  expectSoldOut = false;
  only503 = false;
  private readonly events: Array<{ event: DomainEvent; seen: NonNullable<PlaceOptions['seen']> }> = [];
  private readonly reads = new Map<string, OwnerRead>();
  private auditChange: AuditChange = {};

  constructor(sale: Partial<CheckedSale> = {}) {
    this.sale = { saleId: 'sale-1', totalStock: 10, perUserLimit: 2, ...sale };
    let tick = 0;
    this.history = new History(() => ++tick);
  }

  orderId(userId: string, idempotencyKey: string): string {
    return reservationIdFor(this.sale.saleId, userId, idempotencyKey);
  }

  /** A request of the run. */
  reserve(userId: string, idempotencyKey: string, quantity = 1): Attempt {
    return this.attempt('run', userId, idempotencyKey, quantity);
  }

  /** The checker's retry of a key the run left unknown. */
  retry(userId: string, idempotencyKey: string, quantity = 1): Attempt {
    return this.attempt(RETRY_PHASE, userId, idempotencyKey, quantity);
  }

  /** The checker's replay of an acknowledged key. */
  replay(userId: string, idempotencyKey: string, quantity = 1): Attempt {
    return this.attempt(REPLAY_PHASE, userId, idempotencyKey, quantity);
  }

  /** A reservation acknowledged and in the store: what a correct system does. */
  buy(userId: string, idempotencyKey: string, quantity = 1): string {
    this.reserve(userId, idempotencyKey, quantity).ok();
    return this.place(userId, idempotencyKey, { quantity });
  }

  /** The store places the key's order (OrderPlaced). */
  place(userId: string, idempotencyKey: string, options: PlaceOptions = {}): string {
    const orderId = this.orderId(userId, idempotencyKey);
    const data = { saleId: this.sale.saleId, shard: options.shard ?? 0, orderId, userId, quantity: options.quantity ?? 1 };
    this.store({ type: 'OrderPlaced', data: { ...data, amount: 100, status: 'reserved', stockTaken: true, placedAt: PLACED_AT, expiresAt: PLACED_AT + HOLD_TTL_MS } }, options.seen);
    return orderId;
  }

  /** The sweep expires the order, `lateMs` after its deadline (negative: before it). */
  expire(orderId: string, lateMs = 0): void {
    this.store({ type: 'ReservationExpired', data: { saleId: this.sale.saleId, shard: 0, orderId, userId: this.ownerOf(orderId), expiredAt: PLACED_AT + HOLD_TTL_MS + lateMs } });
  }

  cancel(orderId: string): void {
    this.store({ type: 'OrderCancelled', data: { saleId: this.sale.saleId, shard: 0, orderId, userId: this.ownerOf(orderId), cancelledAt: PLACED_AT + 1000 } });
  }

  /** What GET /orders/:id of the key's acknowledged order answered its owner (else: the acknowledgement). */
  ownerRead(userId: string, idempotencyKey: string, read: OwnerRead): void {
    this.reads.set(ownerReadKey(userId, idempotencyKey), read);
  }

  /** What the audit CLI said (else: exit 0 and the store's counts). */
  audit(change: AuditChange): void {
    this.auditChange = change;
  }

  /** The evidence the checker judges; completes the honest defaults (call once, at the end). */
  evidence(): RunEvidence {
    const acknowledged = new Map<string, { value: ReservationValue; answer: ReservationAnswer; replayed: boolean }>();
    for (const op of this.history.reservations()) {
      const k = ownerReadKey(op.value.userId, op.value.idempotencyKey);
      const known = acknowledged.get(k);
      if (op.phase === REPLAY_PHASE) {
        if (known) known.replayed = true;
      } else if (op.outcome === 'ok' && !known) acknowledged.set(k, { value: op.value, answer: op.body as ReservationAnswer, replayed: false });
    }
    for (const [k, { value, answer, replayed }] of acknowledged) {
      if (!replayed) this.replay(value.userId, value.idempotencyKey, value.quantity).ok(answer, 200);
      if (!this.reads.has(k)) this.reads.set(k, { status: 200, body: { ...answer } });
    }
    const store = this.storeView(['always', 'only-after-check']);
    return {
      sale: this.sale,
      history: this.history,
      asLeft: this.storeView(['always', 'only-before-check']),
      store,
      ownerReads: this.reads,
      audit: this.auditRun(store),
      expectSoldOut: this.expectSoldOut,
      only503: this.only503,
    };
  }

  private attempt(phase: string, userId: string, idempotencyKey: string, quantity: number): Attempt {
    this.history.phase = phase;
    const value: ReservationValue = { saleId: this.sale.saleId, userId, idempotencyKey, quantity };
    const op = this.history.invoke('reserve', userId, value);
    const honest: ReservationAnswer = { orderId: this.orderId(userId, idempotencyKey), saleId: this.sale.saleId, userId, quantity, status: 'reserved', shard: 0 };
    return new Attempt(this.history, op, honest);
  }

  private store(event: DomainEvent, seen: PlaceOptions['seen'] = 'always'): void {
    this.events.push({ event, seen });
  }

  private ownerOf(orderId: string): string {
    for (const { event } of this.events) if (event.type === 'OrderPlaced' && event.data.orderId === orderId) return event.data.userId;
    throw new Error(`no order ${orderId} was placed (test bug)`);
  }

  private storeView(seen: ReadonlyArray<PlaceOptions['seen']>): StoreView {
    return foldStore(
      this.sale.saleId,
      this.events.filter((e) => seen.includes(e.seen)).map((e, i) => ({ event: e.event, position: i + 1 })),
    );
  }

  /** The audit over the store after the check: the units its orders took and released, unless the case says otherwise. */
  private auditRun(store: StoreView): AuditRun {
    const orders = [...store.orders.values()];
    const reserved = orders.reduce((n, o) => n + o.quantity, 0);
    const released = orders.filter((o) => o.expiredCount > 0 || o.cancelledCount > 0).reduce((n, o) => n + o.quantity, 0);
    const allocated = this.sale.totalStock;
    const counts = { allocated, reserved, released, available: allocated - reserved + released };
    const change = this.auditChange.sale;
    const sale: SaleVerdict = { saleId: this.sale.saleId, paid: 0, expired: 0, cancelled: 0, shards: [], violations: [], ...counts, ...(change === 'missing' ? {} : change) };
    return {
      exitCode: this.auditChange.exitCode ?? 0,
      stderr: this.auditChange.stderr ?? '',
      verdict: { ok: true, position: store.head, events: store.head, now: null, expiryGraceMs: 60_000, sales: change === 'missing' ? [] : [sale], logViolations: [] },
    };
  }
}
