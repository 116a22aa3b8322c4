import { ApiProperty } from '@nestjs/swagger';

/** The analysts' answers (libs/read-models SaleSummary, TimelineRow, ProjectionProgress) as the API document describes them. */
export class SaleSummarySchema {
  @ApiProperty() saleId!: string;
  @ApiProperty() totalStock!: number;
  @ApiProperty({ description: 'orders by current status' }) reserved!: number;
  @ApiProperty() placed!: number;
  @ApiProperty() paid!: number;
  @ApiProperty() expired!: number;
  @ApiProperty() cancelled!: number;
  @ApiProperty() refundPending!: number;
  @ApiProperty() orders!: number;
  @ApiProperty() available!: number;
  @ApiProperty() uniqueBuyers!: number;
  @ApiProperty({ description: 'integer minor units' }) revenue!: number;
  @ApiProperty({
    description: 'every refused POST /sales/{id}/reservations of the sale, by code (shed and rate-limited ones included)',
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { SOLD_OUT: 120, RATE_LIMITED: 14 },
  })
  rejections!: Record<string, number>;
  @ApiProperty({ description: 'the last log position the read model applied' }) projectionPosition!: number;
}

export class TimelineRowSchema {
  @ApiProperty({ format: 'date-time', description: 'the start of the bucket' }) t!: string;
  @ApiProperty() reserved!: number;
  @ApiProperty() paid!: number;
  @ApiProperty() expired!: number;
  @ApiProperty() cancelled!: number;
  @ApiProperty() rejected!: number;
}

export class QueryRowsSchema {
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true } }) rows!: Record<string, unknown>[];
  @ApiProperty({ description: 'true when the row limit cut the answer' }) truncated!: boolean;
}

export class ProjectionProgressSchema {
  @ApiProperty() projection!: string;
  @ApiProperty() generation!: number;
  @ApiProperty() position!: number;
  @ApiProperty() head!: number;
  @ApiProperty({ description: 'events appended but not yet applied' }) lagEvents!: number;
  @ApiProperty({ description: 'age of the oldest event not yet applied, 0 when caught up' }) lagMs!: number;
  @ApiProperty() caughtUp!: boolean;
  @ApiProperty() paused!: boolean;
}
