import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsInt, IsString, Length, Max, Min } from 'class-validator';

export class PaymentWebhookRequest {
  @ApiProperty({ minLength: 1, maxLength: 128, example: 'pay-7d1e' }) @IsString() @Length(1, 128) paymentId!: string;
  @ApiProperty({ minLength: 1, maxLength: 128, example: '0b7e…' }) @IsString() @Length(1, 128) orderId!: string;
  @ApiProperty({ description: 'integer minor units', minimum: 0, example: 12_900 }) @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) amount!: number;
  @ApiProperty({ enum: ['succeeded', 'failed'] }) @IsIn(['succeeded', 'failed']) status!: 'succeeded' | 'failed';
}
