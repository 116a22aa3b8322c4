import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';

export class ReservationRequest {
  /** 1..perUserLimit; the upper bound depends on the sale and is checked by the handler. */
  @IsInt() @Min(1) @Max(1_000_000_000) quantity!: number;
  @IsString() @Length(1, 512) purchaseToken!: string;
  @IsOptional() @IsString() @Length(1, 4096) challengeAnswer?: string;
}

/** 8–128 printable ASCII characters, no spaces. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{8,128}$/;
