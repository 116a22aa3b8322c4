import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';

const isText = (value: unknown, max: number): value is string => typeof value === 'string' && value.length >= 1 && value.length <= max;

export class ReservationRequest {
  /** 1..perUserLimit; the upper bound depends on the sale and is checked by the handler. */
  @ApiProperty({ description: '1..perUserLimit of the sale', minimum: 1, example: 1 }) @IsInt() @Min(1) @Max(1_000_000_000) quantity!: number;
  @ApiProperty({ description: 'from GET /sales/{id}/access', minLength: 1, maxLength: 512, example: 'eyJ1Ijoi…' }) @IsString() @Length(1, 512) purchaseToken!: string;
  @ApiPropertyOptional({ description: 'the proof-of-work answer, when the sale asks for one', minLength: 1, maxLength: 4096 })
  @IsOptional()
  @IsString()
  @Length(1, 4096)
  challengeAnswer?: string;

  /**
   * The hot path's compiled check: true only for bodies the decorators above accept (a property test holds it to
   * that), so a well-formed purchase skips class-transformer and class-validator. Anything else, valid or not, goes
   * through them and gets their verdict and messages.
   */
  static fastAccept(body: Readonly<Record<string, unknown>>): boolean {
    let fields = 0;
    for (const key in body) {
      if (key !== 'quantity' && key !== 'purchaseToken' && key !== 'challengeAnswer') return false;
      fields += 1;
    }
    const { quantity, purchaseToken, challengeAnswer } = body;
    return (
      fields === (challengeAnswer === undefined ? 2 : 3) &&
      typeof quantity === 'number' &&
      Number.isInteger(quantity) &&
      quantity >= 1 &&
      quantity <= 1_000_000_000 &&
      isText(purchaseToken, 512) &&
      (challengeAnswer === undefined || isText(challengeAnswer, 4096))
    );
  }
}

/** 8–128 printable ASCII characters, no spaces. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{8,128}$/;
