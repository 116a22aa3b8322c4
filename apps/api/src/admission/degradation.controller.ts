import { Controller, Get, HttpCode, Put } from '@nestjs/common';
import { Degradation, DEGRADATION_LEVELS, DegradationLevel } from '@flash/access';
import { ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsIn, IsInt } from 'class-validator';
import { Authenticated } from '../auth/auth.guard';
import { JsonBody } from '../http/json-body';

export class DegradationRequest {
  @ApiProperty({ enum: DEGRADATION_LEVELS, description: '0 normal; 1 tighter entry throttling; 2 a share of purchases dropped with DEGRADED; 3 admitted buyers only' })
  @IsInt()
  @IsIn(DEGRADATION_LEVELS)
  level!: DegradationLevel;
}

class DegradationLevelView {
  @ApiProperty({ enum: DEGRADATION_LEVELS }) readonly level!: DegradationLevel;
}

/** PUT /admin/degradation `{level: 0|1|2|3}` → 200 `{level}`; GET tells the level in force. */
@ApiTags('admin')
@Controller('admin/degradation')
@Authenticated('admin')
export class DegradationController {
  constructor(private readonly degradation: Degradation) {}

  @Put()
  @HttpCode(200)
  @ApiOkResponse({ type: DegradationLevelView })
  async set(@JsonBody(DegradationRequest) body: DegradationRequest): Promise<{ level: DegradationLevel }> {
    await this.degradation.setLevel(body.level);
    return { level: this.degradation.level() };
  }

  @Get()
  @ApiOkResponse({ type: DegradationLevelView })
  get(): { level: DegradationLevel } {
    return { level: this.degradation.level() };
  }
}
