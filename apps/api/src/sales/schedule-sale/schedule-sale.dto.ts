import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Max, Min, ValidateNested } from 'class-validator';
import { MAX_SHARDS, MAX_TOTAL_STOCK, MIN_HOLD_TTL_MS } from '@flash/domain';

export class WaitingRoomRequest {
  @IsBoolean() enabled!: boolean;
  @IsInt() @Min(1) @Max(1_000_000) admitPerSecond!: number;
  @IsInt() @Min(1000) @Max(3_600_000) tokenTtlMs!: number;
}

export class ScheduleSaleRequest {
  @IsString() @Length(1, 64) sku!: string;
  @IsString() @Length(1, 200) name!: string;
  @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) price!: number;
  @IsInt() @Min(1) @Max(MAX_TOTAL_STOCK) totalStock!: number;
  @IsInt() @Min(1) @Max(MAX_SHARDS) shards!: number;
  @IsISO8601({ strict: true }) startsAt!: string;
  @IsISO8601({ strict: true }) endsAt!: string;
  @IsInt() @Min(1) @Max(MAX_TOTAL_STOCK) perUserLimit!: number;
  @IsIn(['reserve', 'on-order', 'on-payment']) inventoryMode!: 'reserve' | 'on-order' | 'on-payment';
  /** Required in reserve mode; ignored by the other modes. */
  @IsOptional() @IsInt() @Min(MIN_HOLD_TTL_MS) @Max(7 * 24 * 3_600_000) holdTtlMs?: number;
  @IsOptional() @IsIn(['none', 'pow']) challenge?: 'none' | 'pow';
  @IsOptional() @ValidateNested() @Type(() => WaitingRoomRequest) waitingRoom?: WaitingRoomRequest;
}
