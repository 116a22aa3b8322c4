import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** `orderView` (get-order.controller.ts) as the API document describes it. */
export class OrderSchema {
  @ApiProperty({ example: '0b7e5c…' }) orderId!: string;
  @ApiProperty() saleId!: string;
  @ApiProperty({ example: 'buyer-1' }) userId!: string;
  @ApiProperty({ example: 1 }) quantity!: number;
  @ApiProperty({ enum: ['reserved', 'placed', 'paid', 'expired', 'cancelled', 'refund_pending'] }) status!: string;
  @ApiProperty({ description: 'the inventory shard that holds the order' }) shard!: number;
  @ApiProperty({ description: 'price × quantity, integer minor units' }) amount!: number;
  @ApiPropertyOptional({ format: 'date-time', description: 'when an unpaid hold expires (reserve mode)' }) expiresAt?: string;
  @ApiPropertyOptional({ format: 'date-time' }) paidAt?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'when it expired or was cancelled' }) endedAt?: string;
}

/** POST /payments/webhook's answer. */
export class PaymentAnswerSchema {
  @ApiProperty() orderId!: string;
  @ApiProperty({ enum: ['reserved', 'placed', 'paid', 'expired', 'cancelled', 'refund_pending'] }) status!: string;
}
