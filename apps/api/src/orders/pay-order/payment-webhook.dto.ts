import { IsIn, IsInt, IsString, Length, Max, Min } from 'class-validator';

export class PaymentWebhookRequest {
  @IsString() @Length(1, 128) paymentId!: string;
  @IsString() @Length(1, 128) orderId!: string;
  @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) amount!: number;
  @IsIn(['succeeded', 'failed']) status!: 'succeeded' | 'failed';
}
