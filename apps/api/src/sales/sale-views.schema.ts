import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DEGRADATION_LEVELS } from '@flash/access';

/** The answers of sale-views.ts as the API document describes them (schemas only: the views themselves build the JSON). */
const SALE_STATUSES = ['scheduled', 'open', 'sold_out', 'ended'];
const INVENTORY_MODES = ['reserve', 'on-order', 'on-payment'];

export class PublicSaleSchema {
  @ApiProperty({ example: '6f1c2a…' }) id!: string;
  @ApiProperty({ example: 'SKU-42' }) sku!: string;
  @ApiProperty({ example: 'Limited sneakers' }) name!: string;
  @ApiProperty({ description: 'integer minor units', example: 12_900 }) price!: number;
  @ApiProperty({ enum: SALE_STATUSES }) status!: string;
  @ApiProperty({ format: 'date-time' }) startsAt!: string;
  @ApiProperty({ format: 'date-time' }) endsAt!: string;
  @ApiProperty({ format: 'date-time', description: 'to count down with the server clock' }) serverTime!: string;
  @ApiProperty({ example: 2 }) perUserLimit!: number;
  @ApiProperty({ description: 'units left, approximately (cacheable for 1 s)', example: 873 }) availableApprox!: number;
  @ApiProperty({ enum: INVENTORY_MODES }) inventoryMode!: string;
  @ApiProperty({ enum: ['none', 'pow'] }) challenge!: string;
  @ApiProperty({ enum: DEGRADATION_LEVELS }) degradationLevel!: number;
}

class StockCountsSchema {
  @ApiProperty({ description: 'units given to the shard(s) when the sale was scheduled' }) allocated!: number;
  @ApiProperty({ description: 'units ever reserved' }) reserved!: number;
  @ApiProperty({ description: 'units ever paid (a subset of reserved)' }) paid!: number;
  @ApiProperty({ description: 'units ever given back by expiry or cancel' }) released!: number;
  @ApiProperty({ description: 'allocated − reserved + released' }) available!: number;
}

export class ShardCountsSchema extends StockCountsSchema {
  @ApiProperty({ example: 0 }) shard!: number;
}

class ProjectionLagSchema {
  @ApiProperty({ description: 'events appended but not yet projected' }) events!: number;
}

class WaitingRoomSchema {
  @ApiProperty() enabled!: boolean;
  @ApiProperty() admitPerSecond!: number;
  @ApiProperty() tokenTtlMs!: number;
}

/** GET /admin/sales/:id, POST /admin/sales: counts read from the event store (truth). */
export class AdminSaleSchema {
  @ApiProperty() id!: string;
  @ApiProperty() sku!: string;
  @ApiProperty() name!: string;
  @ApiProperty() price!: number;
  @ApiProperty() totalStock!: number;
  @ApiProperty() shardCount!: number;
  @ApiProperty({ format: 'date-time' }) startsAt!: string;
  @ApiProperty({ format: 'date-time' }) endsAt!: string;
  @ApiProperty() perUserLimit!: number;
  @ApiProperty({ enum: INVENTORY_MODES }) inventoryMode!: string;
  @ApiProperty() holdTtlMs!: number;
  @ApiProperty({ enum: ['none', 'pow'] }) challenge!: string;
  @ApiPropertyOptional({ type: () => WaitingRoomSchema }) waitingRoom?: WaitingRoomSchema;
  @ApiProperty({ enum: SALE_STATUSES }) status!: string;
  @ApiProperty({ type: () => StockCountsSchema, description: 'the sums over the shards; Σ allocated = totalStock' }) totals!: StockCountsSchema;
  @ApiProperty({ type: () => [ShardCountsSchema] }) shards!: ShardCountsSchema[];
  @ApiProperty({ type: () => ProjectionLagSchema }) projectionLag!: ProjectionLagSchema;
}
