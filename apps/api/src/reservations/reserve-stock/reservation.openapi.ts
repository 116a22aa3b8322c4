import type { Type } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import type { OperationObject } from '@nestjs/swagger';
import { PURCHASE_CHECK_REFUSALS } from '../../admission/purchase-checks';
import { ApiErrorCode } from '../../http/error-catalogue';
import { RESERVATIONS_ROUTE } from './reservation.pipeline';
import { ReservationRequest } from './reserve-stock.dto';

/** ReservationView (reserve-stock.command.ts) as the API document describes it. */
export class ReservationSchema {
  @ApiProperty({ example: '0b7e5c…' }) orderId!: string;
  @ApiProperty() saleId!: string;
  @ApiProperty({ example: 'buyer-1' }) userId!: string;
  @ApiProperty({ example: 1 }) quantity!: number;
  @ApiProperty({ enum: ['reserved', 'placed'], description: 'reserved: a hold to pay before expiresAt (reserve mode); placed: the other modes' })
  status!: string;
  @ApiProperty({ example: 3 }) shard!: number;
  @ApiPropertyOptional({ format: 'date-time' }) expiresAt?: string;
}

/**
 * What POST /sales/:id/reservations can answer, step by step as ReservationPipeline runs them: the readiness of the
 * indexes, the bearer token, the access checks, the Idempotency-Key and the body (and what the transports refuse
 * before: a body too large or too slow), then ReserveStockHandler's refusals (the sale, the token, the challenge,
 * the stock, the per-user limit, a key reused with another body).
 */
export const RESERVATION_REFUSALS: readonly ApiErrorCode[] = [
  'NOT_READY',
  'UNAUTHENTICATED',
  ...PURCHASE_CHECK_REFUSALS,
  'VALIDATION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'NOT_FOUND',
  'SALE_NOT_STARTED',
  'SALE_ENDED',
  'INVALID_PURCHASE_TOKEN',
  'CHALLENGE_FAILED',
  'SOLD_OUT',
  'LIMIT_EXCEEDED',
  'IDEMPOTENCY_KEY_REUSED',
];

const RESERVATION_EXAMPLE = {
  orderId: '0b7e5c9a-…',
  saleId: '6f1c2a…',
  userId: 'buyer-1',
  quantity: 1,
  status: 'reserved',
  shard: 3,
  expiresAt: '2026-12-24T20:10:00.000Z',
};

/**
 * The reservation route in the API document. It is no Nest controller (the fast path in front of Fastify and a
 * Fastify route share ReservationPipeline), so Nest's scan cannot see it: it is described here, once, in the
 * route's own folder. Its error responses are added from RESERVATION_REFUSALS by the document builder.
 */
export const reservationOperation = (): { readonly path: string; readonly method: 'post'; readonly operation: OperationObject; readonly models: Type[] } => ({
  path: RESERVATIONS_ROUTE,
  method: 'post',
  models: [ReservationRequest, ReservationSchema],
  operation: {
    operationId: 'ReservationPipeline_answer',
    tags: ['buyer'],
    summary: 'Reserve stock of a sale',
    description:
      'The route the whole crowd hits. A known Idempotency-Key is answered before the token, challenge, rate limits and ' +
      'stock are looked at: the same key and body again is a 200 with the same body; the same key with another ' +
      'fingerprint (sale, quantity) is 422 IDEMPOTENCY_KEY_REUSED. A key belongs to its user.',
    security: [{ bearer: [] }],
    parameters: [
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
      { name: 'Idempotency-Key', in: 'header', required: true, description: '8–128 printable ASCII characters', schema: { type: 'string', minLength: 8, maxLength: 128 } },
    ],
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: { $ref: getSchemaPath(ReservationRequest) },
          example: { quantity: 1, purchaseToken: 'eyJ1Ijoi…' },
        },
      },
    },
    responses: {
      '200': {
        description: 'the same key and body again: the first answer, whatever happened in between',
        content: { 'application/json': { schema: { $ref: getSchemaPath(ReservationSchema) }, example: RESERVATION_EXAMPLE } },
      },
      '201': {
        description: 'reserved (reserve mode) or placed',
        content: { 'application/json': { schema: { $ref: getSchemaPath(ReservationSchema) }, example: RESERVATION_EXAMPLE } },
      },
    },
  },
});
