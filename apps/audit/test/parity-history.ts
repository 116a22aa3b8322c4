/**
 * One generated history, written the same way into any store: what the store-parity tests compare the CLIs' reports on.
 */
import { encodeEvent, EventStore, NO_STREAM } from '@flash/event-store';
import { AuditLog, saleDefinition, T0 } from './audit-log';

const SECOND = 1000;
export const BUYERS = 300;
const sale = saleDefinition({ saleId: 'sale-parity', totalStock: BUYERS, shards: 4, perUserLimit: 1, holdTtlMs: 60 * SECOND, price: 250 });

/**
 * One history of a few thousand events (more than one page of every reader): every buyer reserves; half pay, the
 * other half's holds expire and their quota is released.
 */
export const history = (): AuditLog => {
  const log = new AuditLog().scheduleSale(sale);
  const orders: string[] = [];
  for (let i = 0; i < BUYERS; i++) orders.push(log.purchase(sale, i % sale.shards, `user-${i}`, `key-${i}`, 1, T0 + i * 100));
  orders.forEach((orderId, i) => {
    if (i % 2 === 0) {
      log.receivePayment(sale, i % sale.shards, orderId, `pay-${i}`, 250, T0 + 40 * SECOND + i);
      log.pay(sale, i % sale.shards, orderId, `pay-${i}`, 250, T0 + 40 * SECOND + i);
    }
  });
  orders.forEach((orderId, i) => {
    if (i % 2 === 1) {
      log.expire(sale, i % sale.shards, orderId, T0 + 200 * SECOND + i);
      log.releaseQuota(sale.saleId, `user-${i}`, orderId, 1, T0 + 200 * SECOND + i);
    }
  });
  return log;
};

/** The same events, ids and times, in the same order, one append each, into `store`. */
export const write = async (store: EventStore, log: AuditLog, eventIds: readonly string[], setNow: (at: number) => void): Promise<void> => {
  for (const [i, e] of log.events.entries()) {
    setNow(e.recordedAt);
    const data = { ...encodeEvent(e.streamId, e.event, { decidedAt: e.recordedAt }), eventId: eventIds[i] as string };
    await store.append(e.streamId, [data], e.revision === 0 ? NO_STREAM : e.revision - 1);
  }
};
