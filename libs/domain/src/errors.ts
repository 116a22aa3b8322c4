import type { RefundReason } from './inventory-shard/inventory-shard.events';

/**
 * Typed domain errors. Each carries one of the stable codes of API.md; the HTTP layer maps codes to statuses
 * in one table (apps/api/src/http/error-catalogue.ts), so the domain never speaks HTTP.
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BLOCKED'
  | 'NOT_FOUND'
  | 'SALE_NOT_STARTED'
  | 'SALE_ENDED'
  | 'INVALID_PURCHASE_TOKEN'
  | 'CHALLENGE_FAILED'
  | 'SOLD_OUT'
  | 'LIMIT_EXCEEDED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'ORDER_NOT_PAYABLE'
  | 'PAYMENT_ID_REUSED'
  | 'ORDER_NOT_CANCELLABLE'
  | 'RATE_LIMITED'
  | 'OVERLOADED'
  | 'DEGRADED'
  | 'PAYLOAD_TOO_LARGE'
  | 'NOT_READY'
  | 'INTERNAL';

/**
 * A refusal is an answer, not a fault: it is built without capturing a stack trace, which in a spike of sold-out
 * answers would cost more than deciding them.
 */
export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Readonly<Record<string, unknown>> = {}) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export class InvalidCommand extends DomainError {
  constructor(message: string) {
    super('VALIDATION_FAILED', message);
  }
}

export class SoldOut extends DomainError {
  constructor(saleId: string, shard?: number) {
    super('SOLD_OUT', shard === undefined ? `sale ${saleId} is sold out` : `shard ${shard} of sale ${saleId} is sold out`, {
      saleId,
      ...(shard === undefined ? {} : { shard }),
    });
  }
}

export class LimitExceeded extends DomainError {
  constructor(saleId: string, perUserLimit: number) {
    super('LIMIT_EXCEEDED', `the limit of ${perUserLimit} per buyer for sale ${saleId} is reached`, { saleId, perUserLimit });
  }
}

export class IdempotencyKeyReused extends DomainError {
  constructor(idempotencyKey: string) {
    super('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${idempotencyKey} was already used with a different request`);
  }
}

export class SaleNotStarted extends DomainError {
  constructor(saleId: string, readonly retryAfterMs: number) {
    super('SALE_NOT_STARTED', `sale ${saleId} has not started yet`, { saleId });
  }
}

export class SaleEnded extends DomainError {
  constructor(saleId: string) {
    super('SALE_ENDED', `sale ${saleId} has ended`, { saleId });
  }
}

export class NotFound extends DomainError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} not found`);
  }
}

/** What happens to money an order could not take: it is owed back, for this reason. */
export interface RecordedRefund {
  readonly paymentId: string;
  readonly reason: RefundReason;
}

export class OrderNotPayable extends DomainError {
  constructor(orderId: string, status: string, refund?: RecordedRefund) {
    const why = refund?.reason === 'amount_mismatch' ? `payment ${refund.paymentId} is not the amount of order ${orderId}` : `order ${orderId} is ${status} and cannot be paid`;
    super('ORDER_NOT_PAYABLE', refund ? `${why}; a refund of payment ${refund.paymentId} is recorded (${refund.reason})` : why, {
      orderId,
      status,
      ...(refund ? { refund } : {}),
    });
  }
}

/** A paymentId already received for another order: refused, and nothing is recorded for this one. */
export class PaymentIdReused extends DomainError {
  constructor(paymentId: string) {
    super('PAYMENT_ID_REUSED', `payment ${paymentId} was already received for another order`, { paymentId });
  }
}

export class OrderNotCancellable extends DomainError {
  constructor(orderId: string, status: string) {
    super('ORDER_NOT_CANCELLABLE', `order ${orderId} is ${status} and cannot be cancelled`, { orderId, status });
  }
}

/** The service cannot decide now (overloaded, catching up, its gate unreachable): the client retries after the delay. */
export class RetryLater extends DomainError {
  constructor(
    code: 'OVERLOADED' | 'NOT_READY',
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(code, message);
  }
}
