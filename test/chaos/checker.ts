import fs from 'node:fs';
import path from 'node:path';
import { DomainEvent } from '@flash/domain';
import { decodeEvent, reservationIdFor, SqliteEventStore } from '@flash/event-store';
import type { AuditVerdict } from '../../apps/audit/src/audit-model';
import { runAuditCli } from '../../apps/audit/test/run-audit-cli';
import { ChaosClient } from './chaos-client';
import { History, ReservationAnswer, ReservationOperation, ReservationValue } from './history';
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

/**
 * Every kind of violation the checker reports, by name. The self-test (checker-selftest.chaos-spec.ts) feeds one
 * synthetic history per kind and requires it to be reported under that name: a kind added here needs a case there.
 */
export const VIOLATION_KINDS = [
  /** A 5xx answer not marked retryable. */
  'NOT_RETRYABLE_5XX',
  /** A 503 without a Retry-After header. */
  'NO_RETRY_AFTER',
  /** A 5xx other than 503 where only 503 may come (the Redis outage). */
  'NOT_503_DURING_FAULT',
  /** An acknowledged reservation that is not in the store. */
  'LOST_ACK',
  /** A reservation whose outcome stayed unknown through every retry of its key. */
  'NEVER_SETTLED',
  /** Replaying an acknowledged key was not answered with an order. */
  'REPLAY_REFUSED',
  /** Replaying an acknowledged key was answered with another order than the first answer. */
  'REPLAY_MISMATCH',
  /** Replaying an acknowledged key was answered with the same order, but not as 200. */
  'REPLAY_NOT_200',
  /** One order placed more than once in the store. */
  'DUPLICATE_ORDER',
  /** One order expired more than once. */
  'DOUBLE_EXPIRY',
  /** An order expired before its deadline. */
  'EARLY_EXPIRY',
  /** One idempotency key sent with two quantities (a bug of the test's workload). */
  'KEY_REUSED',
  /** One key acknowledged twice with different answers. */
  'ACK_CONFLICT',
  /** One key acknowledged, then refused. */
  'REFUSED_AFTER_ACK',
  /** An acknowledgement whose order id is not the key's reservation id. */
  'WRONG_ORDER_ID',
  /** An acknowledgement for another sale, user or quantity than asked. */
  'ANSWER_VS_REQUEST',
  /** An acknowledgement that disagrees with the order the store holds. */
  'ANSWER_VS_STORE',
  /** GET /orders/:id as the owner disagrees with the acknowledgement (or fails). */
  'READ_YOUR_WRITES',
  /** An order in the store for a key whose every attempt was refused. */
  'ORDER_DESPITE_REFUSAL',
  /** An order in the store for a key no client ever sent. */
  'UNREQUESTED_ORDER',
  /** A buyer holding more live units than the per-user limit. */
  'PER_USER_LIMIT',
  /** More live units than the sale's stock. */
  'OVERSOLD',
  /** The audit CLI exited non-zero. */
  'AUDIT_FAILED',
  /** The audit does not list the sale. */
  'AUDIT_MISSING_SALE',
  /** The audit's counts hold more units than were allocated. */
  'AUDIT_HELD_ABOVE_ALLOCATED',
  /** The audit's allocation differs from the sale's stock. */
  'AUDIT_ALLOCATION',
  /** The audit's held units differ from the live orders' units. */
  'AUDIT_VS_ORDERS',
  /** Demand exceeded stock and recovery topped up, yet units are left. */
  'NOT_SOLD_OUT',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface CheckViolation {
  readonly kind: ViolationKind;
  readonly message: string;
}

export const formatViolation = (violation: CheckViolation): string => `${violation.kind}: ${violation.message}`;

export interface CheckReport {
  readonly violations: CheckViolation[];
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

/** Folds one sale's events (others are skipped) into the store's truth: what readStore does over the log. */
export const foldStore = (saleId: string, events: Iterable<{ readonly event: DomainEvent; readonly position: number }>): StoreView => {
  const orders = new Map<string, StoredOrder>();
  const claims = new Map<string, { userId: string; idempotencyKey: string; quantity: number; released: number }>();
  let head = 0;
  for (const { event, position } of events) {
    head = position;
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
        } else if (event.type === 'OrderCancelled') o.cancelledCount++;
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
  return { orders, claims, head };
};

export const readStore = async (dataDir: string, saleId: string): Promise<StoreView> => {
  const store = new SqliteEventStore({ file: path.join(dataDir, EVENTS_FILE), readonly: true });
  const events: { event: DomainEvent; position: number }[] = [];
  try {
    for (let after = 0; ; ) {
      const page = await store.readAll({ after, maxCount: 5000 });
      if (page.length === 0) break;
      for (const recorded of page) events.push({ event: decodeEvent(recorded), position: recorded.position });
      after = page[page.length - 1]!.position;
    }
  } finally {
    await store.close();
  }
  return foldStore(saleId, events);
};

/** Phases of the history the checker itself writes: its retries of unknown outcomes, then its replays. */
export const RETRY_PHASE = 'check-retry';
export const REPLAY_PHASE = 'check-replay';

/** One idempotency key of the sale (one intended purchase) and every attempt made with it. */
export interface KeyAttempts {
  /** The first attempt's request. */
  readonly value: ReservationValue;
  /** Attempts of the run itself, before the checker touched anything. */
  readonly run: ReservationOperation[];
  /** The checker's retries of a key whose outcome the run left unknown. */
  readonly retries: ReservationOperation[];
  /** The checker's replays of an acknowledged key. */
  readonly replays: ReservationOperation[];
}

const keyOf = (userId: string, idempotencyKey: string): string => `${userId}\u0000${idempotencyKey}`;

/** The sale's reservation attempts grouped by (user, key), in the order the keys were first sent. */
export const attemptsByKey = (history: History, saleId: string): Map<string, KeyAttempts> => {
  const byKey = new Map<string, KeyAttempts>();
  for (const op of history.reservations()) {
    if (op.value.saleId !== saleId) continue;
    const k = keyOf(op.value.userId, op.value.idempotencyKey);
    let key = byKey.get(k);
    if (!key) byKey.set(k, (key = { value: op.value, run: [], retries: [], replays: [] }));
    if (op.phase === RETRY_PHASE) key.retries.push(op);
    else if (op.phase === REPLAY_PHASE) key.replays.push(op);
    else key.run.push(op);
  }
  return byKey;
};

const firstOk = (ops: readonly ReservationOperation[]): ReservationOperation | undefined => ops.find((o) => o.outcome === 'ok');

/** The run left the key's outcome unknown: no acknowledgement, at least one unknown answer. */
const needsRetry = (key: KeyAttempts): boolean => !firstOk(key.run) && key.run.some((o) => o.outcome === 'unknown');

/** The first acknowledgement of the key, by the run or by a retry of the checker. */
const acknowledgement = (key: KeyAttempts): ReservationOperation | undefined => firstOk(key.run) ?? firstOk(key.retries);

/** GET /orders/:id of an acknowledged order, as its owner: the answer, or the transport error. */
export type OwnerRead = { readonly status: number; readonly body: any } | { readonly error: string };

/** The audit CLI's run over the store. */
export interface AuditRun {
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly verdict: AuditVerdict | undefined;
}

/** Everything the checker judges, gathered after the run: the judgement itself is a pure function of it. */
export interface RunEvidence {
  readonly sale: CheckedSale;
  /** The run's history, with the checker's retries (RETRY_PHASE) and replays (REPLAY_PHASE) appended. */
  readonly history: History;
  /** The store as the run left it, before the checker's retries and replays could (re)create anything. */
  readonly asLeft: StoreView;
  /** The store after them. */
  readonly store: StoreView;
  /** By keyOf(user, key): what GET /orders/:id of the key's acknowledged order answered its owner. */
  readonly ownerReads: ReadonlyMap<string, OwnerRead>;
  readonly audit: AuditRun | undefined;
  readonly expectSoldOut?: boolean;
  readonly only503?: boolean;
}

export const ownerReadKey = (userId: string, idempotencyKey: string): string => keyOf(userId, idempotencyKey);

const sameAnswer = (a: ReservationAnswer, b: ReservationAnswer): boolean =>
  a.orderId === b.orderId && a.saleId === b.saleId && a.userId === b.userId && a.quantity === b.quantity && a.shard === b.shard && a.status === b.status;

const answerText = (a: ReservationAnswer): string => `{order ${a.orderId}, user ${a.userId}, qty ${a.quantity}, shard ${a.shard}, ${a.status}}`;

/** An order still holding its units: neither expired nor cancelled. */
const liveStatus = (o: StoredOrder): boolean => o.expiredCount === 0 && o.cancelledCount === 0;

/**
 * The judgement, pure: every ok reservation exists exactly once and as answered, every unknown at most once and as
 * its retry settled it, nothing nobody asked for, nobody above the per-user limit, never oversold, the API's answers
 * agree with the store, and the audit's counts with the orders.
 */
export const judgeRun = (evidence: RunEvidence): Omit<CheckReport, 'audit'> => {
  const { history, sale, asLeft, store } = evidence;
  const violations: CheckViolation[] = [];
  const v = (kind: ViolationKind, message: string): void => {
    violations.push({ kind, message });
  };

  // 0. What the run saw on the wire (not the checker's own requests): 5xx answers must be retryable, 503s carry Retry-After.
  for (const op of history.operations()) {
    if (op.phase === RETRY_PHASE || op.phase === REPLAY_PHASE) continue;
    if (op.status === undefined || op.status < 500) continue;
    if (op.retryable !== true) v('NOT_RETRYABLE_5XX', `op ${op.op} (${op.f} by ${op.process}) got ${op.status} ${op.code ?? ''} that is not marked retryable`);
    if (op.status === 503 && op.retryAfter === undefined) v('NO_RETRY_AFTER', `op ${op.op} got 503 ${op.code ?? ''} without a Retry-After header`);
    if (evidence.only503 && op.status !== 503) v('NOT_503_DURING_FAULT', `op ${op.op} (${op.f} by ${op.process}) got ${op.status} ${op.code ?? ''}: expected a retryable 503 during the fault`);
  }

  const keys = attemptsByKey(history, sale.saleId);

  // 1. Every acknowledgement of the run must be in the store as the run left it.
  const lostAsLeft = new Set<string>();
  for (const [k, key] of keys) {
    const first = firstOk(key.run)?.body as ReservationAnswer | undefined;
    if (first && !asLeft.orders.has(first.orderId)) {
      lostAsLeft.add(k);
      v('LOST_ACK', `order ${first.orderId} of ${key.value.userId} (key ${key.value.idempotencyKey}) was acknowledged but is not in the store after recovery`);
    }
  }

  // 2. Every key the run left unknown was settled by a retry with the same Idempotency-Key.
  let unknownKeys = 0;
  let unknownsResolved = 0;
  const unsettled = new Set<string>();
  for (const [k, key] of keys) {
    if (!needsRetry(key)) continue;
    unknownKeys++;
    if (key.retries.some((o) => o.outcome !== 'unknown')) unknownsResolved++;
    else {
      unsettled.add(k);
      v('NEVER_SETTLED', `reservation of ${key.value.userId} with key ${key.value.idempotencyKey} stayed unknown after ${key.retries.length} retries`);
    }
  }

  // 3. Every acknowledged key, replayed with the same key and body, is answered 200 with the same order.
  for (const key of keys.values()) {
    const first = acknowledgement(key)?.body as ReservationAnswer | undefined;
    if (!first) continue;
    const { userId, idempotencyKey } = key.value;
    if (key.replays.length === 0) v('REPLAY_REFUSED', `acknowledged key ${idempotencyKey} (${userId}) was never replayed`);
    for (const replay of key.replays) {
      const answer = replay.outcome === 'ok' ? (replay.body as ReservationAnswer | undefined) : undefined;
      if (!answer) v('REPLAY_REFUSED', `replay of acknowledged key ${idempotencyKey} (${userId}) answered ${replay.status ?? ''} ${replay.code ?? ''}`);
      else if (!sameAnswer(answer, first)) v('REPLAY_MISMATCH', `replay of key ${idempotencyKey} answered ${answerText(answer)}, first answer was ${answerText(first)}`);
      else if (replay.status !== 200) v('REPLAY_NOT_200', `replay of key ${idempotencyKey} answered ${replay.status ?? ''}, expected 200`);
    }
  }

  // 4. The store's truth: each order placed once, expired at most once and never before its deadline.
  for (const o of store.orders.values()) {
    if (o.placedCount !== 1) v('DUPLICATE_ORDER', `order ${o.orderId} of ${o.userId} has ${o.placedCount} OrderPlaced events`);
    if (o.expiredCount > 1) v('DOUBLE_EXPIRY', `order ${o.orderId} expired ${o.expiredCount} times`);
    for (const at of o.expiredAt) {
      if (o.expiresAt === undefined || at < o.expiresAt) v('EARLY_EXPIRY', `order ${o.orderId} expired at ${at}, before its deadline ${o.expiresAt ?? 'none'}`);
    }
  }

  // 5. Each key against the store: acknowledged as stored, refused and absent.
  const requested = new Set<string>();
  let okKeys = 0;
  for (const [k, key] of keys) {
    const value = key.value;
    const orderId = reservationIdFor(sale.saleId, value.userId, value.idempotencyKey);
    requested.add(orderId);
    const stored = store.orders.get(orderId);
    const attempts = [...key.run, ...key.retries];
    for (const o of [...attempts, ...key.replays]) {
      if (o.value.quantity !== value.quantity) v('KEY_REUSED', `key ${value.idempotencyKey} was sent with quantities ${value.quantity} and ${o.value.quantity} (test bug)`);
    }
    const acknowledged = acknowledgement(key);
    const first = acknowledged?.body as ReservationAnswer | undefined;
    if (acknowledged && first) {
      okKeys++;
      for (const o of attempts) {
        const a = o.outcome === 'ok' ? (o.body as ReservationAnswer) : undefined;
        if (a && !sameAnswer(a, first)) v('ACK_CONFLICT', `key ${value.idempotencyKey} (${value.userId}) was acknowledged twice differently: ${answerText(first)} vs ${answerText(a)}`);
      }
      // A refusal after an acknowledgement contradicts it (the same key is answered the same, whatever happened).
      const acknowledgedAt = acknowledged.completedAt ?? 0;
      for (const o of attempts) {
        if (o.outcome === 'fail' && o.invokedAt > acknowledgedAt && o.code !== 'ECONNREFUSED') {
          v('REFUSED_AFTER_ACK', `key ${value.idempotencyKey} (${value.userId}) was acknowledged, then refused with ${o.code ?? ''}`);
        }
      }
      if (first.orderId !== orderId) v('WRONG_ORDER_ID', `key ${value.idempotencyKey} (${value.userId}) was answered with order ${first.orderId}, not its reservation id ${orderId}`);
      if (first.saleId !== sale.saleId || first.userId !== value.userId || first.quantity !== value.quantity) {
        v('ANSWER_VS_REQUEST', `key ${value.idempotencyKey} asked for ${value.quantity} by ${value.userId}, answer was ${answerText(first)}`);
      }
      if (!stored) {
        // Already reported if the run's own acknowledgement was missing as the run left the store.
        if (!lostAsLeft.has(k)) v('LOST_ACK', `order ${first.orderId} of ${value.userId} (key ${value.idempotencyKey}) was acknowledged ${acknowledged.status ?? ''} but is not in the store`);
        continue;
      }
      if (stored.userId !== first.userId || stored.quantity !== first.quantity || stored.shard !== first.shard || stored.placedStatus !== first.status) {
        v('ANSWER_VS_STORE', `order ${first.orderId}: the API answered ${answerText(first)}, the store holds {user ${stored.userId}, qty ${stored.quantity}, shard ${stored.shard}, ${stored.placedStatus}}`);
      }
      // Read-your-writes as the owner.
      const read = evidence.ownerReads.get(k);
      if (!read) v('READ_YOUR_WRITES', `GET /orders/${first.orderId} was never read as its owner ${value.userId}`);
      else if ('error' in read) v('READ_YOUR_WRITES', `GET /orders/${first.orderId} failed: ${read.error}`);
      else if (read.status !== 200) v('READ_YOUR_WRITES', `GET /orders/${first.orderId} as its owner ${value.userId} answered ${read.status}`);
      else if (read.body?.quantity !== first.quantity || read.body?.shard !== first.shard || read.body?.userId !== value.userId) {
        v('READ_YOUR_WRITES', `GET /orders/${first.orderId} says {qty ${read.body?.quantity}, shard ${read.body?.shard}, user ${read.body?.userId}}, the 201 said ${answerText(first)}`);
      }
    } else if (!unsettled.has(k) && stored) {
      // Every answer for this key was a definite refusal (or the retry settled it as one): nothing may exist.
      const codes = [...new Set(attempts.map((o) => `${o.outcome}:${o.code ?? o.status ?? ''}`))].join(',');
      v('ORDER_DESPITE_REFUSAL', `order ${orderId} of ${value.userId} (key ${value.idempotencyKey}) exists in the store, but its attempts were refused (${codes})`);
    }
  }

  // Nothing in the store that nobody asked for (each order comes from a key some client sent).
  for (const o of store.orders.values()) {
    if (!requested.has(o.orderId)) v('UNREQUESTED_ORDER', `order ${o.orderId} of ${o.userId} is in the store but no client ever sent its key`);
  }

  // 6. Per-user limit (live units per buyer) and never oversold (live units per sale), from the store.
  const perUser = new Map<string, number>();
  let live = 0;
  for (const o of store.orders.values()) {
    if (!liveStatus(o)) continue;
    live += o.quantity;
    perUser.set(o.userId, (perUser.get(o.userId) ?? 0) + o.quantity);
  }
  for (const [userId, units] of perUser) if (units > sale.perUserLimit) v('PER_USER_LIMIT', `user ${userId} holds ${units} units, above the per-user limit ${sale.perUserLimit}`);
  if (live > sale.totalStock) v('OVERSOLD', `${live} units held against a stock of ${sale.totalStock}`);

  // 7. The audit CLI over the same store: every invariant at every prefix, and its counts against the orders.
  const audit = evidence.audit;
  if (audit) {
    const verdict = audit.verdict;
    if (audit.exitCode !== 0) {
      v('AUDIT_FAILED', `audit verify exited ${audit.exitCode}: ${audit.stderr.trim()} ${JSON.stringify(verdict?.sales.flatMap((s) => s.violations) ?? []).slice(0, 2000)}`);
    }
    const audited = verdict?.sales.find((s) => s.saleId === sale.saleId);
    if (verdict && !audited) v('AUDIT_MISSING_SALE', `the audit does not list sale ${sale.saleId}`);
    if (audited) {
      const held = audited.reserved - audited.released;
      if (held > audited.allocated) v('AUDIT_HELD_ABOVE_ALLOCATED', `audit: ${held} units held against ${audited.allocated} allocated`);
      if (audited.allocated !== sale.totalStock) v('AUDIT_ALLOCATION', `audit: ${audited.allocated} units allocated, the sale has ${sale.totalStock}`);
      if (held !== live) v('AUDIT_VS_ORDERS', `audit holds ${held} units, the live orders ${live}`);
      if (evidence.expectSoldOut && audited.available !== 0) v('NOT_SOLD_OUT', `demand exceeded stock, yet ${audited.available} of ${sale.totalStock} units are still available after recovery`);
    }
  }

  return { violations, unknownsResolved, unknownKeys, okKeys };
};

/** Retries every key the run left unknown, with the same Idempotency-Key, until it settles (RETRY_PHASE). */
const settleUnknowns = async (history: History, client: ChaosClient, sale: CheckedSale, attempts: number): Promise<void> => {
  history.phase = RETRY_PHASE;
  for (const key of attemptsByKey(history, sale.saleId).values()) {
    if (!needsRetry(key)) continue;
    for (let i = 0; i < attempts; i++) {
      // A fresh purchase token for the user; a known key is answered before the token is looked at anyway.
      const token = (await client.purchaseToken(sale.saleId, key.value.userId)) ?? 'no-token-access-refused';
      const result = await client.reserve(history, key.value, token);
      if (result.outcome !== 'unknown') break;
      if (i + 1 < attempts) await sleep(150 * (i + 1));
    }
  }
};

/** Replays every acknowledged key once: the same key and body again (REPLAY_PHASE). */
const replayAcknowledged = async (history: History, client: ChaosClient, sale: CheckedSale): Promise<void> => {
  history.phase = REPLAY_PHASE;
  for (const key of attemptsByKey(history, sale.saleId).values()) {
    if (acknowledgement(key)) await client.reserve(history, key.value, 'replay-needs-no-token');
  }
};

/** GET /orders/:id of every acknowledged order, as its owner. */
const readAsOwners = async (history: History, client: ChaosClient, sale: CheckedSale): Promise<Map<string, OwnerRead>> => {
  const reads = new Map<string, OwnerRead>();
  for (const [k, key] of attemptsByKey(history, sale.saleId)) {
    const first = acknowledgement(key)?.body as ReservationAnswer | undefined;
    if (!first) continue;
    try {
      const read = await client.request('GET', `/orders/${first.orderId}`, { token: client.token(key.value.userId) });
      reads.set(k, { status: read.status, body: read.body });
    } catch (error) {
      reads.set(k, { error: String(error) });
    }
  }
  return reads;
};

/**
 * The checker. After the run and the recovery (server back, sagas given time): read the store as the run left it,
 * retry every reservation whose outcome is unknown with its own Idempotency-Key until it settles, replay every
 * acknowledged key, read the store again (read-only), each acknowledged order as its owner, and run the audit CLI;
 * then judge it all (judgeRun).
 */
export const checkRun = async (options: CheckOptions): Promise<CheckReport> => {
  const { history, client, sale } = options;
  const asLeft = await readStore(options.dataDir, sale.saleId);
  await settleUnknowns(history, client, sale, options.settleAttempts ?? 12);
  await replayAcknowledged(history, client, sale);
  const store = await readStore(options.dataDir, sale.saleId);
  const ownerReads = await readAsOwners(history, client, sale);
  const args = ['verify', '--sale', sale.saleId, ...(options.auditNow === undefined ? [] : ['--now', String(options.auditNow)])];
  const cli = await runAuditCli<AuditVerdict | undefined>(args, { DATA_DIR: options.dataDir }, auditCli());
  const audit: AuditRun = { exitCode: cli.exitCode, stderr: cli.stderr, verdict: cli.report };
  const report = judgeRun({
    sale,
    history,
    asLeft,
    store,
    ownerReads,
    audit,
    ...(options.expectSoldOut === undefined ? {} : { expectSoldOut: options.expectSoldOut }),
    ...(options.only503 === undefined ? {} : { only503: options.only503 }),
  });
  return { ...report, ...(audit.verdict ? { audit: audit.verdict } : {}) };
};

/** Writes the run's history next to nothing else: a JSON Lines file under CHAOS_HISTORY_DIR when that is set. */
export const keepHistory = (name: string, history: History): void => {
  const dir = process.env.CHAOS_HISTORY_DIR;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.jsonl`), history.entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
};
