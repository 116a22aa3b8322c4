import { IsArray, IsIn, IsObject, IsString } from 'class-validator';
import { QUERYABLE_COLLECTIONS } from '@flash/read-models';

export class AnalyticsQueryRequest {
  @IsString()
  @IsIn(QUERYABLE_COLLECTIONS)
  collection!: string;

  @IsArray()
  @IsObject({ each: true })
  pipeline!: Record<string, unknown>[];
}
