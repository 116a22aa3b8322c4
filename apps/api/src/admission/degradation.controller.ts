import { Controller, Get, HttpCode, Put } from '@nestjs/common';
import { Degradation, DEGRADATION_LEVELS, DegradationLevel } from '@flash/access';
import { IsIn, IsInt } from 'class-validator';
import { Authenticated } from '../auth/auth.guard';
import { JsonBody } from '../http/json-body';

export class DegradationRequest {
  @IsInt() @IsIn(DEGRADATION_LEVELS) level!: DegradationLevel;
}

/** PUT /admin/degradation `{level: 0|1|2|3}` → 200 `{level}`; GET tells the level in force. */
@Controller('admin/degradation')
@Authenticated('admin')
export class DegradationController {
  constructor(private readonly degradation: Degradation) {}

  @Put()
  @HttpCode(200)
  async set(@JsonBody(DegradationRequest) body: DegradationRequest): Promise<{ level: DegradationLevel }> {
    await this.degradation.setLevel(body.level);
    return { level: this.degradation.level() };
  }

  @Get()
  get(): { level: DegradationLevel } {
    return { level: this.degradation.level() };
  }
}
