import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Max, Min, ValidateNested } from 'class-validator';
import { MAX_ADMIT_PER_SECOND, MAX_ADMITTED_TTL_MS, MAX_SHARDS, MAX_TOTAL_STOCK, MIN_ADMITTED_TTL_MS, MIN_HOLD_TTL_MS } from '@flash/domain';

export class WaitingRoomRequest {
  @ApiProperty({ example: true }) @IsBoolean() enabled!: boolean;
  @ApiProperty({ minimum: 1, maximum: MAX_ADMIT_PER_SECOND, example: 50 }) @IsInt() @Min(1) @Max(MAX_ADMIT_PER_SECOND) admitPerSecond!: number;
  @ApiProperty({ minimum: MIN_ADMITTED_TTL_MS, maximum: MAX_ADMITTED_TTL_MS, example: 60_000, description: 'an admitted buyer who has not bought by then loses the slot' })
  @IsInt()
  @Min(MIN_ADMITTED_TTL_MS)
  @Max(MAX_ADMITTED_TTL_MS)
  tokenTtlMs!: number;
}

export class ScheduleSaleRequest {
  @ApiProperty({ minLength: 1, maxLength: 64, example: 'SKU-42' }) @IsString() @Length(1, 64) sku!: string;
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Limited sneakers' }) @IsString() @Length(1, 200) name!: string;
  @ApiProperty({ description: 'integer minor units', minimum: 0, example: 12_900 }) @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) price!: number;
  @ApiProperty({ minimum: 1, maximum: MAX_TOTAL_STOCK, example: 1000 }) @IsInt() @Min(1) @Max(MAX_TOTAL_STOCK) totalStock!: number;
  @ApiProperty({ minimum: 1, maximum: MAX_SHARDS, example: 8 }) @IsInt() @Min(1) @Max(MAX_SHARDS) shards!: number;
  @ApiProperty({ format: 'date-time', example: '2026-12-24T20:00:00.000Z' }) @IsISO8601({ strict: true }) startsAt!: string;
  @ApiProperty({ format: 'date-time', example: '2026-12-24T21:00:00.000Z' }) @IsISO8601({ strict: true }) endsAt!: string;
  @ApiProperty({ minimum: 1, example: 2 }) @IsInt() @Min(1) @Max(MAX_TOTAL_STOCK) perUserLimit!: number;
  @ApiProperty({ enum: ['reserve', 'on-order', 'on-payment'], example: 'reserve' })
  @IsIn(['reserve', 'on-order', 'on-payment'])
  inventoryMode!: 'reserve' | 'on-order' | 'on-payment';
  /** Required in reserve mode; ignored by the other modes. */
  @ApiPropertyOptional({ description: 'how long a reservation holds its stock (reserve mode)', minimum: MIN_HOLD_TTL_MS, example: 600_000 })
  @IsOptional()
  @IsInt()
  @Min(MIN_HOLD_TTL_MS)
  @Max(7 * 24 * 3_600_000)
  holdTtlMs?: number;
  @ApiPropertyOptional({ enum: ['none', 'pow'], default: 'none' }) @IsOptional() @IsIn(['none', 'pow']) challenge?: 'none' | 'pow';
  @ApiPropertyOptional({ type: () => WaitingRoomRequest }) @IsOptional() @ValidateNested() @Type(() => WaitingRoomRequest) waitingRoom?: WaitingRoomRequest;
}
