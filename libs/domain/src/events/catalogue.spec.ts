import { EVENT_SCHEMA_VERSIONS, isEventType, UnknownEventVersion, upcast } from './catalogue';

describe('event catalogue', () => {
  it('knows every event type it versions and nothing else', () => {
    expect(isEventType('OrderPaid')).toBe(true);
    expect(isEventType('OrderShipped')).toBe(false);
    expect(isEventType('toString')).toBe(false);
  });

  it('writes every event type with a version of at least 1', () => {
    for (const version of Object.values(EVENT_SCHEMA_VERSIONS)) expect(version).toBeGreaterThanOrEqual(1);
  });

  describe('upcast', () => {
    const data = { saleId: 'sale-1', shard: 0, orderId: 'o1', expiredAt: 5 };

    it('passes data of the current version through unchanged', () => {
      expect(upcast('ReservationExpired', EVENT_SCHEMA_VERSIONS.ReservationExpired, data)).toBe(data);
    });

    it('rejects data written by a newer version than this reader', () => {
      expect(() => upcast('ReservationExpired', EVENT_SCHEMA_VERSIONS.ReservationExpired + 1, data)).toThrow(UnknownEventVersion);
    });

    it('lifts an old version with the upcaster registered for it', () => {
      // A hypothetical v0 OrderPaid carried the amount in major units under another name.
      const upcasters = new Map([
        ['OrderPaid@0', ({ amountMajor, ...rest }: Record<string, unknown>) => ({ ...rest, amount: Number(amountMajor) * 100 })],
      ]);
      const v0 = { saleId: 'sale-1', shard: 0, orderId: 'o1', paymentId: 'p1', amountMajor: 199, paidAt: 7 };
      expect(upcast('OrderPaid', 0, v0, upcasters)).toStrictEqual({ saleId: 'sale-1', shard: 0, orderId: 'o1', paymentId: 'p1', amount: 19_900, paidAt: 7 });
    });

    it('chains upcasters step by step up to the current version', () => {
      const steps: string[] = [];
      const step =
        (name: string, field: string) =>
        (d: Record<string, unknown>): Record<string, unknown> => {
          steps.push(name);
          return { ...d, [field]: true };
        };
      const upcasters = new Map([
        ['OrderPaid@-1', step('-1→0', 'v0')],
        ['OrderPaid@0', step('0→1', 'v1')],
      ]);
      expect(upcast('OrderPaid', -1, {}, upcasters)).toStrictEqual({ v0: true, v1: true });
      expect(steps).toStrictEqual(['-1→0', '0→1']);
    });

    it('rejects an old version that has no upcaster', () => {
      expect(() => upcast('OrderPaid', 0, {}, new Map())).toThrow(UnknownEventVersion);
      expect(() => upcast('OrderPaid', 0, {})).toThrow('no upcaster for OrderPaid v0');
    });
  });
});
