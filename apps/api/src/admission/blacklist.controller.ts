import { Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Blacklist, BlacklistEntry, BlacklistTarget, InvalidBlacklistEntry, parseBlacklistEntry } from '@flash/access';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIP, IsOptional, IsString, Length, Matches } from 'class-validator';
import { Authenticated } from '../auth/auth.guard';
import { USER_ID_PATTERN } from '../auth/jwt.service';
import { ApiError } from '../http/error-catalogue';
import { JsonBody } from '../http/json-body';
import { Refuses } from '../http/refusals';
import { BLACKLIST } from './access.tokens';

export class BlacklistRequest {
  @ApiPropertyOptional({ description: 'exactly one of userId and ip', pattern: USER_ID_PATTERN.source, example: 'buyer-9' })
  @IsOptional()
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'userId must be 1–64 characters of [A-Za-z0-9_.:-]' })
  userId?: string;

  @ApiPropertyOptional({ description: 'exactly one of userId and ip', example: '203.0.113.7' }) @IsOptional() @IsString() @IsIP() ip?: string;

  @ApiProperty({ minLength: 1, maxLength: 500, example: 'bot farm' }) @IsString() @Length(1, 500) reason!: string;
}

export class BlacklistEntryView {
  @ApiProperty({ description: 'what DELETE /admin/blacklist/{entry} takes', example: 'user:buyer-9' }) readonly entry!: string;
  @ApiPropertyOptional() readonly userId?: string;
  @ApiPropertyOptional() readonly ip?: string;
  @ApiProperty() readonly reason!: string;
  @ApiProperty({ format: 'date-time' }) readonly createdAt!: string;
}

class BlacklistEntries {
  @ApiProperty({ type: [BlacklistEntryView] }) readonly entries!: BlacklistEntryView[];
}

const view = (e: BlacklistEntry): BlacklistEntryView => ({
  entry: e.entry,
  ...(e.kind === 'user' ? { userId: e.value } : { ip: e.value }),
  reason: e.reason,
  createdAt: new Date(e.createdAt).toISOString(),
});

const targetOf = ({ userId, ip }: BlacklistRequest): BlacklistTarget => {
  if (userId !== undefined && ip === undefined) return { userId };
  if (ip !== undefined && userId === undefined) return { ip };
  throw new ApiError('VALIDATION_FAILED', 'give exactly one of userId and ip');
};

/** POST /admin/blacklist `{userId?|ip?, reason}` → 201 entry; DELETE /admin/blacklist/:entry → 204; GET lists them. */
@ApiTags('admin')
@Controller('admin/blacklist')
@Authenticated('admin')
export class BlacklistController {
  constructor(@Inject(BLACKLIST) private readonly blacklist: Blacklist) {}

  @Post()
  @ApiCreatedResponse({ type: BlacklistEntryView })
  async add(@JsonBody(BlacklistRequest) body: BlacklistRequest): Promise<BlacklistEntryView> {
    return view(await this.blacklist.add(targetOf(body), body.reason));
  }

  @Get()
  @ApiOkResponse({ type: BlacklistEntries })
  async list(): Promise<{ entries: BlacklistEntryView[] }> {
    return { entries: (await this.blacklist.list()).map(view) };
  }

  @Delete(':entry')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'removed' })
  @Refuses('VALIDATION_FAILED', 'NOT_FOUND')
  async remove(@Param('entry') entry: string): Promise<void> {
    let removed: boolean;
    try {
      parseBlacklistEntry(entry);
      removed = await this.blacklist.remove(entry);
    } catch (error) {
      if (error instanceof InvalidBlacklistEntry) throw new ApiError('VALIDATION_FAILED', error.message);
      throw error;
    }
    if (!removed) throw new ApiError('NOT_FOUND', `no blacklist entry ${entry}`);
  }
}
