import {
  DomainError,
  IdempotencyKeyReused,
  InvalidCommand,
  LimitExceeded,
  NotFound,
  OrderNotCancellable,
  OrderNotPayable,
  PaymentIdReused,
  SaleEnded,
  SaleNotStarted,
  SoldOut,
} from './errors';
import { buyerStream, inventoryStream, paymentStream, saleStream } from './streams';

/** What a refusal carries to the edge: its code, the sentence a client shows, and the details a client may act on. */
const shape = (e: DomainError) => ({ name: e.name, code: e.code, message: e.message, details: e.details });

describe('domain errors: the code, message and details each refusal carries', () => {
  it.each<[string, DomainError, ReturnType<typeof shape>]>([
    ['InvalidCommand', new InvalidCommand('quantity must be a positive integer'), { name: 'InvalidCommand', code: 'VALIDATION_FAILED', message: 'quantity must be a positive integer', details: {} }],
    ['SoldOut for a sale', new SoldOut('s1'), { name: 'SoldOut', code: 'SOLD_OUT', message: 'sale s1 is sold out', details: { saleId: 's1' } }],
    ['SoldOut for a shard', new SoldOut('s1', 0), { name: 'SoldOut', code: 'SOLD_OUT', message: 'shard 0 of sale s1 is sold out', details: { saleId: 's1', shard: 0 } }],
    [
      'LimitExceeded',
      new LimitExceeded('s1', 2),
      { name: 'LimitExceeded', code: 'LIMIT_EXCEEDED', message: 'the limit of 2 per buyer for sale s1 is reached', details: { saleId: 's1', perUserLimit: 2 } },
    ],
    [
      'IdempotencyKeyReused',
      new IdempotencyKeyReused('k-1'),
      { name: 'IdempotencyKeyReused', code: 'IDEMPOTENCY_KEY_REUSED', message: 'Idempotency-Key k-1 was already used with a different request', details: {} },
    ],
    ['SaleEnded', new SaleEnded('s1'), { name: 'SaleEnded', code: 'SALE_ENDED', message: 'sale s1 has ended', details: { saleId: 's1' } }],
    ['NotFound', new NotFound('order', 'o-1'), { name: 'NotFound', code: 'NOT_FOUND', message: 'order o-1 not found', details: {} }],
    [
      'OrderNotPayable',
      new OrderNotPayable('o-1', 'expired'),
      { name: 'OrderNotPayable', code: 'ORDER_NOT_PAYABLE', message: 'order o-1 is expired and cannot be paid', details: { orderId: 'o-1', status: 'expired' } },
    ],
    [
      'OrderNotPayable with a refund',
      new OrderNotPayable('o-1', 'paid', { paymentId: 'p-2', reason: 'already_paid' }),
      {
        name: 'OrderNotPayable',
        code: 'ORDER_NOT_PAYABLE',
        message: 'order o-1 is paid and cannot be paid; a refund of payment p-2 is recorded (already_paid)',
        details: { orderId: 'o-1', status: 'paid', refund: { paymentId: 'p-2', reason: 'already_paid' } },
      },
    ],
    [
      'OrderNotPayable for the wrong amount',
      new OrderNotPayable('o-1', 'reserved', { paymentId: 'p-3', reason: 'amount_mismatch' }),
      {
        name: 'OrderNotPayable',
        code: 'ORDER_NOT_PAYABLE',
        message: 'payment p-3 is not the amount of order o-1; a refund of payment p-3 is recorded (amount_mismatch)',
        details: { orderId: 'o-1', status: 'reserved', refund: { paymentId: 'p-3', reason: 'amount_mismatch' } },
      },
    ],
    [
      'PaymentIdReused',
      new PaymentIdReused('p-1'),
      { name: 'PaymentIdReused', code: 'PAYMENT_ID_REUSED', message: 'payment p-1 was already received for another order', details: { paymentId: 'p-1' } },
    ],
    [
      'OrderNotCancellable',
      new OrderNotCancellable('o-1', 'paid'),
      { name: 'OrderNotCancellable', code: 'ORDER_NOT_CANCELLABLE', message: 'order o-1 is paid and cannot be cancelled', details: { orderId: 'o-1', status: 'paid' } },
    ],
  ])('%s', (_name, error, expected) => {
    expect(shape(error)).toStrictEqual(expected);
    expect(error).toBeInstanceOf(DomainError);
  });

  it('SaleNotStarted carries when to come back', () => {
    const error = new SaleNotStarted('s1', 1500);
    expect({ ...shape(error), retryAfterMs: error.retryAfterMs }).toStrictEqual({
      name: 'SaleNotStarted',
      code: 'SALE_NOT_STARTED',
      message: 'sale s1 has not started yet',
      details: { saleId: 's1' },
      retryAfterMs: 1500,
    });
  });

  it('a refusal is built without a stack trace, and leaves the stack limit as it was', () => {
    const before = Error.stackTraceLimit;
    const error = new SoldOut('s1');
    expect(error.stack?.split('\n')).toHaveLength(1);
    expect(Error.stackTraceLimit).toBe(before);
  });
});

describe('stream names: the one place they are spelled', () => {
  it('names each stream by its category and ids', () => {
    expect([saleStream('s1'), buyerStream('s1', 'u1'), inventoryStream('s1', 3), paymentStream('p1')]).toStrictEqual([
      'sale-s1',
      'buyer-s1-u1',
      'inventory-s1-3',
      'payment-p1',
    ]);
  });
});
