import { ApiProperty } from '@nestjs/swagger';
import { IsArray, IsIn, IsObject, IsString } from 'class-validator';
import { QUERYABLE_COLLECTIONS } from '@flash/read-models';

export class AnalyticsQueryRequest {
  @ApiProperty({ enum: QUERYABLE_COLLECTIONS })
  @IsString()
  @IsIn(QUERYABLE_COLLECTIONS)
  collection!: string;

  @ApiProperty({
    description: 'a Mongo aggregation pipeline of read-only stages ($out, $merge, $function, $where, $accumulator are refused)',
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    example: [{ $match: { saleId: '6f1c…' } }, { $count: 'orders' }],
  })
  @IsArray()
  @IsObject({ each: true })
  pipeline!: Record<string, unknown>[];
}
