import { BuyerEvent } from '../buyer/buyer.events';
import { ShardEvent } from '../inventory-shard/inventory-shard.events';
import { PaymentEvent } from '../payment/payment.events';
import { SaleEvent } from '../sale/sale.events';

/** Every event this system writes. Event types are wire contracts: renaming a TypeScript type never renames one. */
export type DomainEvent = SaleEvent | BuyerEvent | ShardEvent | PaymentEvent;
export type EventType = DomainEvent['type'];

/** The schemaVersion each event is written with today. */
export const EVENT_SCHEMA_VERSIONS: Readonly<Record<EventType, number>> = {
  SaleScheduled: 1,
  SaleStockAllocated: 1,
  SaleClosed: 1,
  QuotaClaimed: 1,
  QuotaReleased: 1,
  StockReserved: 1,
  OrderPlaced: 1,
  OrderPaid: 1,
  ReservationExpired: 1,
  OrderCancelled: 1,
  StockReleased: 1,
  PaymentRefundRequested: 1,
  PaymentReceived: 1,
};

export const isEventType = (type: string): type is EventType => Object.prototype.hasOwnProperty.call(EVENT_SCHEMA_VERSIONS, type);

/** Turns the data of `type` at `fromVersion` into `fromVersion + 1`. */
type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/**
 * Upcasters, keyed `${type}@${fromVersion}`. Old events stay in the log as written; readers lift them to the
 * current shape. Empty today: version 1 is the only one ever written.
 */
const UPCASTERS: ReadonlyMap<string, Upcaster> = new Map();

export class UnknownEventVersion extends Error {}

export const upcast = (
  type: EventType,
  schemaVersion: number,
  data: Record<string, unknown>,
  upcasters: ReadonlyMap<string, Upcaster> = UPCASTERS,
): Record<string, unknown> => {
  const current = EVENT_SCHEMA_VERSIONS[type];
  if (schemaVersion > current) throw new UnknownEventVersion(`${type} v${schemaVersion} is newer than this reader (v${current})`);
  let lifted = data;
  for (let v = schemaVersion; v < current; v++) {
    const step = upcasters.get(`${type}@${v}`);
    if (!step) throw new UnknownEventVersion(`no upcaster for ${type} v${v}`);
    lifted = step(lifted);
  }
  return lifted;
};
