import { Controller, HttpCode, Post } from '@nestjs/common';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { JsonBody } from '../http/json-body';
import { JwtService, Role, ROLES, USER_ID_PATTERN } from './jwt.service';

export class DevTokenRequest {
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'userId must be 1–64 characters of [A-Za-z0-9_.:-]' })
  userId!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(2)
  @IsIn(ROLES, { each: true })
  roles?: Role[];
}

/** Mints tokens for the demo; registered only when DEMO=1. */
@Controller('auth')
export class DevTokenController {
  constructor(private readonly jwt: JwtService) {}

  @Post('dev-token')
  @HttpCode(200)
  issue(@JsonBody(DevTokenRequest) body: DevTokenRequest): { token: string } {
    return { token: this.jwt.sign(body.userId, body.roles ?? []) };
  }
}
