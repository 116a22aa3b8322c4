import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { JsonBody } from '../http/json-body';
import { JwtService, Role, ROLES, USER_ID_PATTERN } from './jwt.service';

export class DevTokenRequest {
  @ApiProperty({ pattern: USER_ID_PATTERN.source, example: 'buyer-1' })
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'userId must be 1–64 characters of [A-Za-z0-9_.:-]' })
  userId!: string;

  @ApiPropertyOptional({ enum: ROLES, isArray: true, example: ['admin'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(2)
  @IsIn(ROLES, { each: true })
  roles?: Role[];
}

export class DevToken {
  @ApiProperty({ description: 'an HS256 bearer token' }) token!: string;
}

/** Mints tokens for the demo; registered only when DEMO=1. */
@ApiTags('auth')
@Controller('auth')
export class DevTokenController {
  constructor(private readonly jwt: JwtService) {}

  @Post('dev-token')
  @HttpCode(200)
  @ApiOkResponse({ type: DevToken, description: 'only with DEMO=1' })
  issue(@JsonBody(DevTokenRequest) body: DevTokenRequest): { token: string } {
    return { token: this.jwt.sign(body.userId, body.roles ?? []) };
  }
}
