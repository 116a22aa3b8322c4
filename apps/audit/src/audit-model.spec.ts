import { buyerStream, inventoryStream, paymentStream } from '@flash/domain';
import { AuditLog, saleDefinition, T0 } from '../test/audit-log';
import { LogEvent, RecordedEvent } from '@flash/event-store';
import { AuditModel, AuditVerdict, DEFAULT_EXPIRY_GRACE_MS, Violation } from './audit-model';

const SECOND = 1000;
const sale = saleDefinition({ saleId: 'sale-a', totalStock: 4, shards: 2, perUserLimit: 2, holdTtlMs: 60 * SECOND, price: 100 });

/** Folds the log and judges it at its last recordedAt (or `now`), as `verify` does. */
const audit = (log: AuditLog, now?: number, options: { saleId?: string } = {}): AuditVerdict => {
  const model = new AuditModel(options);
  for (const e of log.events) model.apply(e);
  return model.verdict({ now: now ?? model.lastRecordedAt ?? 0, expiryGraceMs: DEFAULT_EXPIRY_GRACE_MS });
};

const violationsOf = (verdict: AuditVerdict): Violation[] => verdict.sales.flatMap((s) => s.violations);

describe('AuditModel', () => {
  it('finds no violation in a clean history and reports the units GET /admin/sales/:id reports', () => {
    const log = new AuditLog().scheduleSale(sale);
    const paidOrder = log.purchase(sale, 0, 'alice', 'alice-key-1', 2, T0 + SECOND);
    log.pay(sale, 0, paidOrder, 'pay-1', 200, T0 + 10 * SECOND);
    const expiredOrder = log.purchase(sale, 1, 'bob', 'bob-key-1', 1, T0 + 2 * SECOND);
    log.expire(sale, 1, expiredOrder, T0 + 62 * SECOND).releaseQuota(sale.saleId, 'bob', expiredOrder, 1, T0 + 62 * SECOND);
    // A late payment for the expired hold is refunded, never paid.
    log.refund(sale, 1, expiredOrder, 'pay-2', 100, T0 + 70 * SECOND);
    const soldOutClaim = log.claim(sale.saleId, 'carol', 'carol-key-1', 1, T0 + 80 * SECOND);
    log.releaseQuota(sale.saleId, 'carol', soldOutClaim, 1, T0 + 80 * SECOND);
    const liveOrder = log.purchase(sale, 1, 'dave', 'dave-key-1', 1, T0 + 90 * SECOND);

    const verdict = audit(log, T0 + 100 * SECOND);

    expect(verdict.ok).toBe(true);
    expect(verdict.logViolations).toEqual([]);
    expect(verdict.position).toBe(log.events.length);
    expect(verdict.events).toBe(log.events.length);
    expect(verdict.sales).toEqual([
      {
        saleId: 'sale-a',
        allocated: 4,
        reserved: 4,
        paid: 2,
        released: 1,
        expired: 1,
        cancelled: 0,
        available: 1,
        shards: [
          { shard: 0, allocated: 2, reserved: 2, paid: 2, released: 0, available: 0 },
          { shard: 1, allocated: 2, reserved: 2, paid: 0, released: 1, available: 1 },
        ],
        violations: [],
      },
    ]);
    expect(liveOrder).not.toBe(paidOrder);
  });

  it('names the stream, revision and position of the reservation that oversells a shard', () => {
    const log = new AuditLog().scheduleSale(sale);
    log.purchase(sale, 0, 'u1', 'key-0001', 1, T0 + SECOND);
    log.purchase(sale, 0, 'u2', 'key-0002', 1, T0 + SECOND);
    log.claim(sale.saleId, 'u3', 'key-0003', 1, T0 + SECOND, 'order-3');
    log.shard(sale.saleId, 0, { type: 'StockReserved', data: { saleId: sale.saleId, shard: 0, orderId: 'order-3', userId: 'u3', quantity: 1, reservedAt: T0 } }, T0 + SECOND);
    const overselling = log.last;

    const verdict = audit(log);

    expect(verdict.ok).toBe(false);
    // Shard 0 (2 units) holds 3, while the sale (4 units) is still within its total.
    expect(violationsOf(verdict)).toEqual([
      {
        invariant: 'never-oversold',
        message: expect.stringContaining('shard 0 of sale sale-a holds 3 units'),
        stream: inventoryStream('sale-a', 0),
        revision: 4,
        position: overselling.position,
      },
    ]);
    expect(overselling.revision).toBe(4);
  });

  it('reports a sale oversold across its shards as well as the shard that took the unit', () => {
    const log = new AuditLog().scheduleSale(sale);
    for (let i = 0; i < 4; i++) log.purchase(sale, i % 2, `u${i}`, `key-000${i}`, 1, T0 + SECOND);
    log.purchase(sale, 1, 'u4', 'key-0004', 1, T0 + SECOND);

    const invariants = violationsOf(audit(log)).map((v) => [v.invariant, v.message.split(' holds')[0]]);

    expect(invariants).toEqual([
      ['never-oversold', 'shard 1 of sale sale-a'],
      ['never-oversold', 'sale sale-a'],
    ]);
  });

  it('flags a payment recorded after the hold expired, with no refund instead', () => {
    const log = new AuditLog().scheduleSale(sale);
    const orderId = log.purchase(sale, 0, 'late-payer', 'late-key-1', 1, T0);
    log.pay(sale, 0, orderId, 'pay-late', 100, T0 + sale.holdTtlMs + 1);
    const payment = log.last;

    const [violation, ...others] = violationsOf(audit(log));

    expect(others).toEqual([]);
    expect(violation).toMatchObject({ invariant: 'paid-on-live-reservation', stream: inventoryStream('sale-a', 0), position: payment.position });
    expect(violation?.message).toContain('a late payment must be refunded');
  });

  it('flags a payment on an order that already expired, a paid-and-refunded payment, and a refund given twice', () => {
    const log = new AuditLog().scheduleSale(sale);
    const orderId = log.purchase(sale, 0, 'u1', 'key-0001', 1, T0);
    log.expire(sale, 0, orderId, T0 + sale.holdTtlMs);
    log.refund(sale, 0, orderId, 'pay-1', 100, T0 + sale.holdTtlMs + 5);
    const paidAfterRefund = log.pay(sale, 0, orderId, 'pay-1', 100, T0 + sale.holdTtlMs + 5).last;
    log.refund(sale, 0, orderId, 'pay-2', 100, T0 + sale.holdTtlMs + 6);
    const secondRefund = log.refund(sale, 0, orderId, 'pay-2', 100, T0 + sale.holdTtlMs + 7).last;

    const found = violationsOf(audit(log)).map((v) => [v.invariant, v.position, v.message]);

    expect(found).toEqual([
      ['paid-on-live-reservation', paidAfterRefund.position, expect.stringContaining('the order was already refund_pending')],
      ['one-outcome-per-payment', paidAfterRefund.position, expect.stringContaining('payment pay-1 both paid and refunded')],
      ['one-outcome-per-payment', secondRefund.position, expect.stringContaining('payment pay-2 refunded twice')],
    ]);
  });

  it('accepts a payment received for its order, paid there, and received again (a redelivery)', () => {
    const log = new AuditLog().scheduleSale(sale);
    const orderId = log.purchase(sale, 0, 'u1', 'key-0001', 1, T0);
    log.receivePayment(sale, 0, orderId, 'pay-1', 100, T0 + SECOND).pay(sale, 0, orderId, 'pay-1', 100, T0 + SECOND);
    log.receivePayment(sale, 0, orderId, 'pay-1', 100, T0 + 2 * SECOND);
    expect(violationsOf(audit(log))).toEqual([]);
  });

  it('flags a payment that settles an order other than the one it was received for, in any sale', () => {
    const other = saleDefinition({ saleId: 'sale-b', totalStock: 2, shards: 1 });
    const log = new AuditLog().scheduleSale(sale).scheduleSale(other);
    const first = log.purchase(sale, 0, 'u1', 'key-0001', 1, T0);
    const second = log.purchase(sale, 1, 'u2', 'key-0002', 1, T0);
    const third = log.purchase(other, 0, 'u3', 'key-0003', 1, T0);
    log.receivePayment(sale, 0, first, 'pay-x', 100, T0 + SECOND).pay(sale, 0, first, 'pay-x', 100, T0 + SECOND);
    const paidWithIt = log.pay(sale, 1, second, 'pay-x', 100, T0 + 2 * SECOND).last;
    const receivedAgain = log.receivePayment(other, 0, third, 'pay-x', 100, T0 + 3 * SECOND).last;
    const refundedWithIt = log.refund(other, 0, third, 'pay-x', 100, T0 + 3 * SECOND).last;

    const found = (v: ReturnType<typeof audit>) => violationsOf(v).map((x) => [x.invariant, x.stream, x.position, x.message]);

    expect(found(audit(log))).toEqual([
      ['one-outcome-per-payment', inventoryStream('sale-a', 1), paidWithIt.position, `payment pay-x pays order ${second}, but it was received for order ${first}`],
      ['one-outcome-per-payment', inventoryStream('sale-a', 1), paidWithIt.position, expect.stringContaining('payment pay-x paid twice')],
      ['one-outcome-per-payment', paymentStream('pay-x'), receivedAgain.position, `payment pay-x received for order ${third}, but first for order ${first}`],
      ['one-outcome-per-payment', inventoryStream('sale-b', 0), refundedWithIt.position, `payment pay-x is refunded on order ${third}, but it was received for order ${first}`],
      ['one-outcome-per-payment', inventoryStream('sale-b', 0), refundedWithIt.position, expect.stringContaining('both paid and refunded')],
    ]);
    // Auditing sale B alone still knows which order the payment was received for.
    expect(found(audit(log, undefined, { saleId: 'sale-b' })).map(([, , position, message]) => [position, message])).toEqual([
      [receivedAgain.position, `payment pay-x received for order ${third}, but first for order ${first}`],
      [refundedWithIt.position, `payment pay-x is refunded on order ${third}, but it was received for order ${first}`],
    ]);
  });

  it('accepts a payment in time on a live hold', () => {
    const log = new AuditLog().scheduleSale(sale);
    const orderId = log.purchase(sale, 0, 'u1', 'key-0001', 2, T0);
    log.pay(sale, 0, orderId, 'pay-1', 200, T0 + sale.holdTtlMs - 1);
    expect(audit(log).ok).toBe(true);
  });

  it('flags the claim that takes a buyer above the per-user limit', () => {
    const log = new AuditLog().scheduleSale(sale);
    log.purchase(sale, 0, 'greedy', 'greedy-key-1', 2, T0);
    log.claim(sale.saleId, 'greedy', 'greedy-key-2', 1, T0 + SECOND);
    const breach = log.last;
    log.releaseQuota(sale.saleId, 'greedy', breach.event.type === 'QuotaClaimed' ? breach.event.data.reservationId : '', 1, T0 + SECOND);

    const violations = violationsOf(audit(log));

    expect(violations).toEqual([
      {
        invariant: 'per-user-limit',
        message: 'user greedy holds 3 units of sale sale-a, above its per-user limit of 2',
        stream: buyerStream('sale-a', 'greedy'),
        revision: 1,
        position: breach.position,
      },
    ]);
  });

  it('counts only active claims against the limit: released quota can be claimed again', () => {
    const log = new AuditLog().scheduleSale(sale);
    const first = log.purchase(sale, 0, 'u1', 'key-0001', 2, T0);
    log.expire(sale, 0, first, T0 + sale.holdTtlMs).releaseQuota(sale.saleId, 'u1', first, 2, T0 + sale.holdTtlMs);
    log.purchase(sale, 1, 'u1', 'key-0002', 2, T0 + sale.holdTtlMs + 1);
    expect(audit(log).ok).toBe(true);
  });

  it('flags a quota claim left without order or release past the grace, and not within it', () => {
    const log = new AuditLog().scheduleSale(sale);
    log.claim(sale.saleId, 'stuck', 'stuck-key-1', 1, T0);
    const claim = log.last;

    expect(audit(log, T0 + DEFAULT_EXPIRY_GRACE_MS).ok).toBe(true);
    const verdict = audit(log, T0 + DEFAULT_EXPIRY_GRACE_MS + 1);
    expect(violationsOf(verdict)).toEqual([
      expect.objectContaining({ invariant: 'claim-settled', stream: buyerStream('sale-a', 'stuck'), revision: 0, position: claim.position }),
    ]);
    expect(verdict.now).toBe(new Date(T0 + DEFAULT_EXPIRY_GRACE_MS + 1).toISOString());
  });

  it('flags two quota claims under one Idempotency-Key', () => {
    const log = new AuditLog().scheduleSale(sale);
    log.purchase(sale, 0, 'u1', 'same-key-1', 1, T0);
    const again = log.purchase(sale, 1, 'u1', 'same-key-1', 1, T0 + SECOND);
    // The second claim derives the same reservation id, so it is a second OrderPlaced of one order as well.
    const found = violationsOf(audit(log)).map((v) => [v.invariant, v.stream, v.position]);

    expect(found).toEqual([
      ['no-duplicate-reservation', buyerStream('sale-a', 'u1'), 6],
      ['no-duplicate-reservation', inventoryStream('sale-a', 1), 8],
    ]);
    expect(again).toBeDefined();
  });

  it('flags a claim under an Idempotency-Key the same user already used in another sale', () => {
    const other = saleDefinition({ saleId: 'sale-b', totalStock: 2, shards: 1 });
    const log = new AuditLog().scheduleSale(sale).scheduleSale(other);
    const first = log.purchase(sale, 0, 'u1', 'shared-key-1', 1, T0);
    // Another user's key of the same text, and the same user's other keys, are theirs.
    log.purchase(other, 0, 'u2', 'shared-key-1', 1, T0);
    log.purchase(other, 0, 'u1', 'own-key-0001', 1, T0);
    log.claim(other.saleId, 'u1', 'shared-key-1', 1, T0 + SECOND);
    const reused = log.last;

    const found = violationsOf(audit(log)).map((v) => [v.invariant, v.stream, v.position, v.message]);

    expect(found).toEqual([
      [
        'no-duplicate-reservation',
        buyerStream('sale-b', 'u1'),
        reused.position,
        `user u1 claimed quota under Idempotency-Key shared-key-1 in sale sale-b, already used in sale sale-a (reservation ${first})`,
      ],
    ]);
  });

  it('flags a hold that outlives its ttl plus the grace without being paid, expired or cancelled', () => {
    const log = new AuditLog().scheduleSale(sale);
    log.purchase(sale, 0, 'u1', 'key-0001', 1, T0);
    const expiresAt = T0 + sale.holdTtlMs;

    expect(audit(log, expiresAt + DEFAULT_EXPIRY_GRACE_MS).ok).toBe(true);
    const [violation] = violationsOf(audit(log, expiresAt + DEFAULT_EXPIRY_GRACE_MS + 1));
    expect(violation).toMatchObject({ invariant: 'hold-ended', stream: inventoryStream('sale-a', 0), position: 5 });
    expect(violation?.message).toContain('hold not ended');
  });

  it('flags stock released for a paid order and an expiry of a paid order', () => {
    const log = new AuditLog().scheduleSale(sale);
    const orderId = log.purchase(sale, 0, 'u1', 'key-0001', 1, T0);
    log.pay(sale, 0, orderId, 'pay-1', 100, T0 + SECOND);
    log.expire(sale, 0, orderId, T0 + sale.holdTtlMs);

    const found = violationsOf(audit(log)).map((v) => v.invariant);

    expect(found).toEqual(['order-lifecycle', 'stock-accounting']);
  });

  it('flags shard events of a sale that was never scheduled', () => {
    const log = new AuditLog();
    log.reserve(sale, 0, 'ghost-order', 'u1', 1, T0);
    const found = violationsOf(audit(log)).map((v) => v.invariant);
    // With no allocation the shard has 0 units, so the unit it took was oversold too.
    expect(found).toEqual(['known-sale', 'never-oversold', 'never-oversold']);
  });

  it('flags every event outside the stream its data names, and none inside it', () => {
    const log = new AuditLog().scheduleSale(sale);
    // In place: the shard streams' names are remembered per shard, the buyer's compared as prefix and user id.
    const orderId = log.purchase(sale, 1, 'ab-c', 'key-1', 1, T0);
    const claim = (userId: string) => ({ saleId: sale.saleId, userId, reservationId: 'r-2', idempotencyKey: 'key-2', quantity: 1, claimedAt: T0 });
    const release = { saleId: sale.saleId, userId: 'ab-c', reservationId: orderId, quantity: 1, reason: 'cancelled' as const, releasedAt: T0 };
    const misplaced = [
      log.append('sale-sale-b', { type: 'SaleClosed', data: { saleId: sale.saleId, closedAt: T0, reason: 'ended' } }, T0),
      // The same length, prefix and all but the user id; a longer name that starts and ends right; another sale's.
      log.append(buyerStream(sale.saleId, 'ab-d'), { type: 'QuotaClaimed', data: claim('ab-c') }, T0),
      log.append(buyerStream(sale.saleId, 'zzab-c'), { type: 'QuotaClaimed', data: claim('ab-c') }, T0),
      log.append(buyerStream('sale-b', 'ab-c'), { type: 'QuotaReleased', data: release }, T0),
      // Shard 0's event in shard 1's stream, after shard 1's name was remembered.
      log.append(inventoryStream(sale.saleId, 1), { type: 'OrderCancelled', data: { saleId: sale.saleId, shard: 0, orderId, userId: 'ab-c', cancelledAt: T0 } }, T0),
      log.append(paymentStream('pay-2'), { type: 'PaymentReceived', data: { paymentId: 'pay-1', saleId: sale.saleId, shard: 1, orderId, amount: 100, receivedAt: T0 } }, T0),
    ];
    log.append(buyerStream(sale.saleId, 'ab-c'), { type: 'QuotaReleased', data: release }, T0);
    log.append(inventoryStream(sale.saleId, 0), { type: 'OrderCancelled', data: { saleId: sale.saleId, shard: 0, orderId, userId: 'ab-c', cancelledAt: T0 } }, T0);

    const found = violationsOf(audit(log))
      .filter((v) => v.invariant === 'event-in-its-stream')
      .map((v) => [v.position, v.message]);

    expect(found).toEqual([
      [misplaced[0]?.position, 'SaleClosed of sale sale-a is in stream sale-sale-b, expected sale-sale-a'],
      [misplaced[1]?.position, 'QuotaClaimed of sale sale-a is in stream buyer-sale-a-ab-d, expected buyer-sale-a-ab-c'],
      [misplaced[2]?.position, 'QuotaClaimed of sale sale-a is in stream buyer-sale-a-zzab-c, expected buyer-sale-a-ab-c'],
      [misplaced[3]?.position, 'QuotaReleased of sale sale-a is in stream buyer-sale-b-ab-c, expected buyer-sale-a-ab-c'],
      [misplaced[4]?.position, 'OrderCancelled of sale sale-a is in stream inventory-sale-a-1, expected inventory-sale-a-0'],
      [misplaced[5]?.position, 'PaymentReceived of sale sale-a is in stream payment-pay-2, expected payment-pay-1'],
    ]);
  });

  it('audits only the sale asked for', () => {
    const other = saleDefinition({ saleId: 'sale-b', totalStock: 1, shards: 1 });
    const log = new AuditLog().scheduleSale(sale).scheduleSale(other);
    log.purchase(other, 0, 'u1', 'key-0001', 1, T0);
    log.purchase(other, 0, 'u2', 'key-0002', 1, T0);
    log.purchase(sale, 0, 'u1', 'key-0003', 1, T0);

    const onlyA = audit(log, undefined, { saleId: 'sale-a' });
    const everything = audit(log);

    expect(onlyA.ok).toBe(true);
    expect(onlyA.sales.map((s) => s.saleId)).toEqual(['sale-a']);
    expect(onlyA.events).toBe(log.events.length);
    expect(everything.ok).toBe(false);
    expect(everything.sales.find((s) => s.saleId === 'sale-b')?.violations[0]?.invariant).toBe('never-oversold');
  });

  it('reports an event it cannot read instead of stopping', () => {
    const model = new AuditModel();
    model.applyRecorded({ eventId: 'e1', type: 'SomethingNew', data: {}, metadata: { schemaVersion: 1 }, streamId: 'x-1', revision: 0, position: 1, recordedAt: T0 });

    const verdict = model.verdict({ now: T0, expiryGraceMs: 0 });

    expect(verdict.ok).toBe(false);
    expect(verdict.logViolations).toEqual([expect.objectContaining({ invariant: 'decodable-event', stream: 'x-1', revision: 0, position: 1 })]);
  });

  it('judges events from the log reader as it judges RecordedEvents, unreadable ones included', () => {
    const log = new AuditLog().scheduleSale(sale);
    const order = log.purchase(sale, 0, 'u1', 'key-0001', 2, T0 + SECOND);
    log.pay(sale, 0, order, 'pay-1', 300, T0 + 2 * SECOND); // wrong amount: a violation
    log.claim(sale.saleId, 'u2', 'key-0002', 1, T0 + 3 * SECOND); // never settled: a violation at the end
    const recorded: RecordedEvent[] = log.events.map((e, i) => ({
      eventId: `e${String(i)}`,
      type: e.event.type,
      data: e.event.data as unknown as Record<string, unknown>,
      metadata: { schemaVersion: 1 },
      streamId: e.streamId,
      revision: e.revision,
      position: e.position,
      recordedAt: e.recordedAt,
    }));
    const next = recorded.length + 1;
    recorded.push({ eventId: 'odd-1', type: 'SomethingNew', data: {}, metadata: { schemaVersion: 1 }, streamId: 'x-1', revision: 0, position: next, recordedAt: T0 });
    recorded.push({ ...(recorded[3] as RecordedEvent), eventId: 'odd-2', metadata: { schemaVersion: 7 }, position: next + 1 });
    const logged = (r: RecordedEvent): LogEvent => ({ ...r, schemaVersion: typeof r.metadata.schemaVersion === 'number' ? r.metadata.schemaVersion : 1 });

    const byRecorded = new AuditModel();
    const byLogged = new AuditModel();
    for (const r of recorded) byRecorded.applyRecorded(r);
    for (const r of recorded) byLogged.applyLogged(logged(r));
    const judge = (m: AuditModel) => m.verdict({ now: T0 + 3_600_000, expiryGraceMs: DEFAULT_EXPIRY_GRACE_MS });

    expect(judge(byLogged)).toEqual(judge(byRecorded));
    expect(judge(byLogged).logViolations.map((v) => v.message)).toEqual([expect.stringContaining('odd-1'), expect.stringContaining('odd-2')]);
    expect(violationsOf(judge(byLogged)).map((v) => v.invariant)).toEqual(['paid-on-live-reservation', 'claim-settled']);
  });

  it('compares (user, Idempotency-Key) as the one string `user\\nkey`, as it always has', () => {
    const log = new AuditLog().scheduleSale(saleDefinition({ saleId: 'sale-a', totalStock: 10, shards: 1, perUserLimit: 5 }));
    log.claim(sale.saleId, 'a\nb', 'c', 1, T0, 'r1');
    log.claim(sale.saleId, 'a', 'b\nc', 1, T0, 'r2'); // the same string: reported as a second claim under that key
    log.claim(sale.saleId, 'a', 'c', 1, T0, 'r3');
    log.claim(sale.saleId, 'a', 'd', 1, T0, 'r4');
    log.claim(sale.saleId, 'a', 'c', 1, T0, 'r5');
    for (const r of ['r1', 'r2', 'r3', 'r4', 'r5']) log.releaseQuota(sale.saleId, r === 'r1' ? 'a\nb' : 'a', r, 1, T0);

    const found = violationsOf(audit(log)).map((v) => [v.invariant, v.message]);

    expect(found).toEqual([
      ['no-duplicate-reservation', expect.stringContaining('(reservations r1 and r2; first at position 3)')],
      ['no-duplicate-reservation', expect.stringContaining('(reservations r3 and r5; first at position 5)')],
    ]);
  });

  it('gives the counts at any prefix without judging the end of the log', () => {
    const log = new AuditLog().scheduleSale(sale);
    log.claim(sale.saleId, 'u1', 'key-0001', 1, T0);
    const model = new AuditModel();
    for (const e of log.events) model.apply(e);
    expect(model.counts()).toEqual([
      expect.objectContaining({ saleId: 'sale-a', allocated: 4, reserved: 0, available: 4, shards: [expect.objectContaining({ shard: 0 }), expect.objectContaining({ shard: 1 })] }),
    ]);
  });
});
