import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { ApiError } from './error-catalogue';

/**
 * JSON bodies are kept as raw text by Fastify's parser (bounded by the body limit) and parsed only when the
 * handler's parameters are resolved, which Nest does after the guards: authentication and role are checked
 * before the body is looked at, and the payment webhook can verify its HMAC over the exact bytes received.
 */
export class RawJsonBody {
  constructor(readonly text: string) {}
}

export const registerRawJsonParser = (fastify: FastifyInstance, bodyLimit: number): void => {
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    done(null, new RawJsonBody(body as string));
  });
};

const describe = (errors: ValidationError[], prefix = ''): string[] =>
  errors.flatMap((e) => {
    const here = `${prefix}${e.property}`;
    const own = Object.values(e.constraints ?? {}).map((m) => (m.startsWith(e.property) ? `${prefix}${m}` : `${here}: ${m}`));
    return [...own, ...describe(e.children ?? [], `${here}.`)];
  });

/** Parses (rejecting __proto__ and constructor.prototype keys), then validates strictly: no unknown field, no coercion. */
export const parseBody = <T extends object>(dto: new () => T, raw: unknown): T => {
  if (!(raw instanceof RawJsonBody)) throw new ApiError('VALIDATION_FAILED', 'a JSON body (Content-Type: application/json) is required');
  let plain: unknown;
  try {
    plain = secureJson.parse(raw.text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new ApiError('VALIDATION_FAILED', 'the body is not valid JSON');
  }
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) throw new ApiError('VALIDATION_FAILED', 'the body must be a JSON object');
  const instance = plainToInstance(dto, plain);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    const problems = describe(errors);
    throw new ApiError('VALIDATION_FAILED', problems.join('; '), { details: problems });
  }
  return instance;
};

/** `@JsonBody(Dto) body: Dto` — the validated body. */
export const JsonBody = createParamDecorator((dto: new () => object, ctx: ExecutionContext) =>
  parseBody(dto, ctx.switchToHttp().getRequest<FastifyRequest>().body),
);
