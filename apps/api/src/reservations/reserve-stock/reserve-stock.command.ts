import { Command } from '@nestjs/cqrs';

/** A reservation as the buyer sees it: the body of the 201 (or of the 200 when the same key is sent again). */
export interface ReservationView {
  readonly orderId: string;
  readonly saleId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly status: 'reserved' | 'placed';
  readonly shard: number;
  readonly expiresAt?: string;
}

export interface ReservationResult {
  /** True when this request placed the order (201); false when it found it (200, same body). */
  readonly created: boolean;
  readonly view: ReservationView;
}

export class ReserveStockCommand extends Command<ReservationResult> {
  constructor(
    readonly saleId: string,
    readonly userId: string,
    readonly idempotencyKey: string,
    readonly quantity: number,
    readonly purchaseToken: string,
    readonly clientIpHash: string,
    readonly challengeAnswer: string | undefined,
    /** The HTTP request's id (X-Request-Id): the correlationId of the events this reservation appends. */
    readonly requestId: string,
    /** When the request arrived (the server's clock), before any of the server's own queueing: what a proof's solve time is measured to. */
    readonly receivedAt?: number,
  ) {
    super();
  }
}
