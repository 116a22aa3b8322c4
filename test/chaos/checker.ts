import fs from 'node:fs';
import path from 'node:path';
import { DomainEvent } from '@flash/domain';
import { decodeEvent, reservationIdFor, SqliteEventStore } from '@flash/event-store';
import type { AuditVerdict } from '../../apps/audit/src/audit-model';
import { runAuditCli } from '../../apps/audit/test/run-audit-cli';
import { ChaosClient } from './chaos-client';
import { History, ReservationAnswer, ReservationOperation } from './history';
import { auditCli } from './server';
import { sleep } from './rng';

/** What one run's sale looked like, for the checker. */
export interface CheckedSale {
  readonly saleId: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
}

export interface CheckOptions {
  readonly history: History;
  /** A client of the recovered api: retries go through it, and GET /orders/:id as each owner. */
  readonly client: ChaosClient;
  readonly sale: CheckedSale;
  /** DATA_DIR of the store: read read-only here and by the audit CLI. */
  readonly dataDir: string;
  /** Demand exceeded stock and the recovery ran a top-up wave: the sale must have ended sold out. */
  readonly expectSoldOut?: boolean;
  /** Every 5xx answer must be a 503 (the Redis outage: paused admissions, not internal errors). */
  readonly only503?: boolean;
  /** `--now` for the audit (a fake clock's time), else the log's last recordedAt. */
  readonly auditNow?: number;
  /** Attempts per unknown reservation before it counts as never settled. */
  readonly settleAttempts?: number;
}

export interface CheckReport {
  readonly violations: string[];
  /** Reservations whose outcome was unknown (no ok answer for their key) and that a retry settled. */
  readonly unknownsResolved: number;
  /** Keys whose every answer during the run was unknown or 5xx. */
  readonly unknownKeys: number;
  readonly okKeys: number;
  readonly audit?: AuditVerdict;
}

/** One order as the store's log says, folded from its shard events. */
export interface StoredOrder {
  readonly orderId: string;
  readonly saleId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly shard: number;
  readonly placedStatus: string;
  readonly expiresAt: number | undefined;
  placedCount: number;
  expiredCount: number;
  /** ReservationExpired.expiredAt of each expiry (the clock of the sweep that decided it). */
  readonly expiredAt: number[];
  cancelledCount: number;
  paidCount: number;
}

/** The store's truth for one sale, read from the SQLite log read-only (as the audit opens it). */
export interface StoreView {
  readonly orders: Map<string, StoredOrder>;
  /** reservationId → idempotency key and quantity claimed on the buyer stream. */
  readonly claims: Map<string, { userId: string; idempotencyKey: string; quantity: number; released: number }>;
  readonly head: number;
}

export const EVENTS_FILE = 'events.sqlite';

export const readStore = async (dataDir: string, saleId: string): Promise<StoreView> => {
  const store = new SqliteEventStore({ file: path.join(dataDir, EVENTS_FILE), readonly: true });
  const orders = new Map<string, StoredOrder>();
  const claims = new Map<string, { userId: string; idempotencyKey: string; quantity: number; released: number }>();
  let head = 0;
  try {
    for (let after = 0; ; ) {
      const page = await store.readAll({ after, maxCount: 5000 });
      if (page.length === 0) break;
      for (const recorded of page) {
        head = recorded.position;
        const event: DomainEvent = decodeEvent(recorded);
        const data = event.data as { saleId?: string };
        if (data.saleId !== saleId) continue;
        switch (event.type) {
          case 'OrderPlaced': {
            const d = event.data;
            const known = orders.get(d.orderId);
            if (known) known.placedCount++;
            else {
              orders.set(d.orderId, {
                orderId: d.orderId,
                saleId: d.saleId,
                userId: d.userId,
                quantity: d.quantity,
                shard: d.shard,
                placedStatus: d.status,
                expiresAt: d.expiresAt,
                placedCount: 1,
                expiredCount: 0,
                expiredAt: [],
                cancelledCount: 0,
                paidCount: 0,
              });
            }
            break;
          }
          case 'ReservationExpired':
          case 'OrderCancelled':
          case 'OrderPaid': {
            const o = orders.get(event.data.orderId);
            if (!o) break; // the audit reports an event about an unknown order
            if (event.type === 'ReservationExpired') {
              o.expiredCount++;
              o.expiredAt.push(event.data.expiredAt);
            }
            else if (event.type === 'OrderCancelled') o.cancelledCount++;
            else o.paidCount++;
            break;
          }
          case 'QuotaClaimed':
            claims.set(event.data.reservationId, {
              userId: event.data.userId,
              idempotencyKey: event.data.idempotencyKey,
              quantity: event.data.quantity,
              released: 0,
            });
            break;
          case 'QuotaReleased': {
            const c = claims.get(event.data.reservationId);
            if (c) c.released++;
            break;
          }
          default:
            break;
        }
      }
      after = page[page.length - 1]!.position;
    }
  } finally {
    await store.close();
  }
  return { orders, claims, head };
};

const keyOf = (userId: string, idempotencyKey: string): string => `${userId}\u0000${idempotencyKey}`;

const sameAnswer = (a: ReservationAnswer, b: ReservationAnswer): boolean =>
  a.orderId === b.orderId && a.saleId === b.saleId && a.userId === b.userId && a.quantity === b.quantity && a.shard === b.shard && a.status === b.status;

const answerText = (a: ReservationAnswer): string => `{order ${a.orderId}, user ${a.userId}, qty ${a.quantity}, shard ${a.shard}, ${a.status}}`;

/** Codes that say the attempt was refused before anything was written: nothing may exist for the key. */
const liveStatus = (o: StoredOrder): boolean => o.expiredCount === 0 && o.cancelledCount === 0;

/**
 * The checker. After the run and the recovery (server back, sagas given time): retry every reservation whose outcome
 * is unknown with its own Idempotency-Key until it settles, replay every acknowledged key, then read the store
 * (read-only, and through the audit CLI) and judge: every ok reservation exists exactly once and as answered, every
 * unknown at most once and as its retry settled it, nothing nobody asked for, nobody above the per-user limit,
 * never oversold, and the API's answers agree with the store.
 */
export const checkRun = async (options: CheckOptions): Promise<CheckReport> => {
  const { history, client, sale } = options;
  const violations: string[] = [];
  const v = (message: string): void => {
    violations.push(message);
  };

  // 0. What the run saw on the wire: 5xx answers must be retryable, 503s carry Retry-After.
  for (const op of history.operations()) {
    if (op.status === undefined || op.status < 500) continue;
    if (op.retryable !== true) v(`op ${op.op} (${op.f} by ${op.process}) got ${op.status} ${op.code ?? ''} that is not marked retryable`);
    if (op.status === 503 && op.retryAfter === undefined) v(`op ${op.op} got 503 ${op.code ?? ''} without a Retry-After header`);
    if (options.only503 && op.status !== 503) v(`op ${op.op} (${op.f} by ${op.process}) got ${op.status} ${op.code ?? ''}: expected a retryable 503 during the fault`);
  }

  // 1. Group reservation operations by (user, key): one key is one intended purchase.
  const byKey = new Map<string, ReservationOperation[]>();
  for (const op of history.reservations()) {
    if (op.value.saleId !== sale.saleId) continue;
    const k = keyOf(op.value.userId, op.value.idempotencyKey);
    const list = byKey.get(k) ?? [];
    list.push(op);
    byKey.set(k, list);
  }

  const okAnswer = (ops: readonly ReservationOperation[]): ReservationAnswer | undefined => ops.find((o) => o.outcome === 'ok')?.body as ReservationAnswer | undefined;

  // 1b. Every acknowledgement of the run must be in the store as the run left it, before the checker's own retries
  // and replays could (re)create anything.
  const asLeft = await readStore(options.dataDir, sale.saleId);
  for (const ops of byKey.values()) {
    const first = okAnswer(ops);
    if (first && !asLeft.orders.has(first.orderId)) {
      const value = ops[0]!.value;
      v(`LOST ACK: order ${first.orderId} of ${value.userId} (key ${value.idempotencyKey}) was acknowledged but is not in the store after recovery`);
    }
  }

  // 2. Retry every key with no ok answer and at least one unknown, with the same Idempotency-Key, until it settles.
  const attempts = options.settleAttempts ?? 12;
  history.phase = 'check-retry';
  let unknownKeys = 0;
  let unknownsResolved = 0;
  const unsettled = new Set<string>();
  for (const [k, ops] of byKey) {
    if (okAnswer(ops) || !ops.some((o) => o.outcome === 'unknown')) continue;
    unknownKeys++;
    const value = ops[0]!.value;
    let settled = false;
    for (let i = 0; i < attempts && !settled; i++) {
      // A fresh purchase token for the user; a known key is answered before the token is looked at anyway.
      const token = (await client.purchaseToken(sale.saleId, value.userId)) ?? 'no-token-access-refused';
      const result = await client.reserve(history, value, token);
      settled = result.outcome !== 'unknown';
      if (!settled) await sleep(150 * (i + 1));
    }
    if (settled) unknownsResolved++;
    else {
      unsettled.add(k);
      v(`reservation of ${value.userId} with key ${value.idempotencyKey} stayed unknown after ${attempts} retries`);
    }
    byKey.set(k, history.reservations().filter((o) => o.value.saleId === sale.saleId && keyOf(o.value.userId, o.value.idempotencyKey) === k));
  }

  // 3. Replay every acknowledged key: the same key and body again is answered with the same order.
  history.phase = 'check-replay';
  for (const [k, ops] of byKey) {
    const first = okAnswer(ops);
    if (!first) continue;
    const value = ops[0]!.value;
    const result = await client.reserve(history, value, 'replay-needs-no-token');
    if (result.outcome !== 'ok' || !result.answer) v(`replay of acknowledged key ${value.idempotencyKey} (${value.userId}) answered ${result.status ?? ''} ${result.code ?? ''}`);
    else if (!sameAnswer(result.answer, first)) v(`replay of key ${value.idempotencyKey} answered ${answerText(result.answer)}, first answer was ${answerText(first)}`);
    else if (result.status !== 200) v(`replay of key ${value.idempotencyKey} answered ${result.status}, expected 200`);
    byKey.set(k, history.reservations().filter((o) => o.value.saleId === sale.saleId && keyOf(o.value.userId, o.value.idempotencyKey) === k));
  }

  // 4. The store's truth, read-only.
  const store = await readStore(options.dataDir, sale.saleId);
  for (const o of store.orders.values()) {
    if (o.placedCount !== 1) v(`order ${o.orderId} of ${o.userId} has ${o.placedCount} OrderPlaced events`);
    if (o.expiredCount > 1) v(`order ${o.orderId} expired ${o.expiredCount} times`);
    for (const at of o.expiredAt) {
      if (o.expiresAt === undefined || at < o.expiresAt) v(`order ${o.orderId} expired at ${at}, before its deadline ${o.expiresAt ?? 'none'}`);
    }
  }

  const requested = new Set<string>();
  let okKeys = 0;
  for (const ops of byKey.values()) {
    const value = ops[0]!.value;
    const orderId = reservationIdFor(sale.saleId, value.userId, value.idempotencyKey);
    requested.add(orderId);
    const stored = store.orders.get(orderId);
    const oks = ops.filter((o) => o.outcome === 'ok');
    const first = oks[0]?.body as ReservationAnswer | undefined;
    for (const o of ops) if (o.value.quantity !== value.quantity) v(`key ${value.idempotencyKey} was sent with two quantities (test bug)`);
    if (first) {
      okKeys++;
      for (const o of oks) {
        const a = o.body as ReservationAnswer;
        if (!sameAnswer(a, first)) v(`key ${value.idempotencyKey} (${value.userId}) was acknowledged twice differently: ${answerText(first)} vs ${answerText(a)}`);
      }
      // A refusal after an acknowledgement contradicts it (the same key is answered the same, whatever happened).
      const acknowledgedAt = oks[0]!.completedAt ?? 0;
      for (const o of ops) {
        if (o.outcome === 'fail' && o.invokedAt > acknowledgedAt && o.code !== 'ECONNREFUSED') {
          v(`key ${value.idempotencyKey} (${value.userId}) was acknowledged, then refused with ${o.code ?? ''}`);
        }
      }
      if (first.orderId !== orderId) v(`key ${value.idempotencyKey} (${value.userId}) was answered with order ${first.orderId}, not its reservation id ${orderId}`);
      if (first.saleId !== sale.saleId || first.userId !== value.userId || first.quantity !== value.quantity) {
        v(`key ${value.idempotencyKey} asked for ${value.quantity} by ${value.userId}, answer was ${answerText(first)}`);
      }
      if (!stored) {
        v(`LOST ACK: order ${first.orderId} of ${value.userId} (key ${value.idempotencyKey}) was acknowledged ${oks[0]!.status ?? ''} but is not in the store`);
        continue;
      }
      if (stored.userId !== first.userId || stored.quantity !== first.quantity || stored.shard !== first.shard || stored.placedStatus !== first.status) {
        v(`order ${first.orderId}: the API answered ${answerText(first)}, the store holds {user ${stored.userId}, qty ${stored.quantity}, shard ${stored.shard}, ${stored.placedStatus}}`);
      }
      // Read-your-writes as the owner.
      try {
        const read = await client.request('GET', `/orders/${first.orderId}`, { token: client.token(value.userId) });
        if (read.status !== 200) v(`GET /orders/${first.orderId} as its owner ${value.userId} answered ${read.status}`);
        else if (read.body.quantity !== first.quantity || read.body.shard !== first.shard || read.body.userId !== value.userId) {
          v(`GET /orders/${first.orderId} says {qty ${read.body.quantity}, shard ${read.body.shard}, user ${read.body.userId}}, the 201 said ${answerText(first)}`);
        }
      } catch (error) {
        v(`GET /orders/${first.orderId} failed: ${String(error)}`);
      }
    } else if (!unsettled.has(keyOf(value.userId, value.idempotencyKey))) {
      // Every answer for this key was a definite refusal (or the retry settled it as one): nothing may exist.
      if (stored) {
        const codes = [...new Set(ops.map((o) => `${o.outcome}:${o.code ?? o.status ?? ''}`))].join(',');
        v(`order ${orderId} of ${value.userId} (key ${value.idempotencyKey}) exists in the store, but its attempts were refused (${codes})`);
      }
    }
  }

  // Nothing in the store that nobody asked for (each order comes from a key some client sent).
  for (const o of store.orders.values()) {
    if (!requested.has(o.orderId)) v(`order ${o.orderId} of ${o.userId} is in the store but no client ever sent its key`);
  }

  // 5. Per-user limit (live units per buyer) and never oversold (live units per sale), from the store.
  const perUser = new Map<string, number>();
  let live = 0;
  for (const o of store.orders.values()) {
    if (!liveStatus(o)) continue;
    live += o.quantity;
    perUser.set(o.userId, (perUser.get(o.userId) ?? 0) + o.quantity);
  }
  for (const [userId, units] of perUser) if (units > sale.perUserLimit) v(`user ${userId} holds ${units} units, above the per-user limit ${sale.perUserLimit}`);
  if (live > sale.totalStock) v(`OVERSOLD: ${live} units held against a stock of ${sale.totalStock}`);

  // 6. The audit CLI over the same store: every invariant at every prefix.
  const args = ['verify', '--sale', sale.saleId, ...(options.auditNow === undefined ? [] : ['--now', String(options.auditNow)])];
  const audit = await runAuditCli<AuditVerdict | undefined>(args, { DATA_DIR: options.dataDir }, auditCli());
  const verdict = audit.report;
  if (audit.exitCode !== 0) {
    v(`audit verify exited ${audit.exitCode}: ${audit.stderr.trim()} ${JSON.stringify(verdict?.sales.flatMap((s) => s.violations) ?? []).slice(0, 2000)}`);
  }
  const audited = verdict?.sales.find((s) => s.saleId === sale.saleId);
  if (verdict && !audited) v(`the audit does not list sale ${sale.saleId}`);
  if (audited) {
    if (audited.reserved - audited.released > audited.allocated) v(`audit: ${audited.reserved - audited.released} units held against ${audited.allocated} allocated`);
    if (audited.allocated !== sale.totalStock) v(`audit: ${audited.allocated} units allocated, the sale has ${sale.totalStock}`);
    const heldByOrders = [...store.orders.values()].filter(liveStatus).reduce((n, o) => n + o.quantity, 0);
    if (audited.reserved - audited.released !== heldByOrders) v(`audit holds ${audited.reserved - audited.released} units, the live orders ${heldByOrders}`);
    if (options.expectSoldOut && audited.available !== 0) v(`demand exceeded stock, yet ${audited.available} of ${sale.totalStock} units are still available after recovery`);
  }

  return { violations, unknownsResolved, unknownKeys, okKeys, ...(verdict ? { audit: verdict } : {}) };
};

/** Writes the run's history next to nothing else: a JSON Lines file under CHAOS_HISTORY_DIR when that is set. */
export const keepHistory = (name: string, history: History): void => {
  const dir = process.env.CHAOS_HISTORY_DIR;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.jsonl`), history.entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
};
