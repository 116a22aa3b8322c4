import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { ApiError } from './error-catalogue';
import { Refuses } from './refusals';

/**
 * JSON bodies are kept as raw text by Fastify's parser (bounded by the body limit) and parsed only when the
 * handler's parameters are resolved, which Nest does after the guards: authentication and role are checked
 * before the body is looked at, and the payment webhook can verify its HMAC over the exact bytes received.
 */
export class RawJsonBody {
  constructor(
    readonly text: string,
    /** The bytes as received: what the webhook signature covers (they differ from `text` when they are not UTF-8). */
    readonly bytes: Buffer = Buffer.from(text, 'utf8'),
  ) {}
}

/** A body of any other media type (or none named): kept, so that parseBody refuses it after the guards, not before. */
export class NotJsonBody {}

/** A Content-Type Fastify cannot parse would be refused (415) before the guards run: a stricter subset of its rule. */
const PARSEABLE_CONTENT_TYPE = /^[ \t]*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+[ \t]*(?:;|$)/;

export const registerRawJsonParser = (fastify: FastifyInstance, bodyLimit: number): void => {
  fastify.removeContentTypeParser('application/json');
  // Read as bytes: with parseAs 'string' a body that is not UTF-8 decodes longer than its Content-Length and Fastify
  // refuses it (400) before the guards. Undecodable bytes become U+FFFD and fail JSON parsing or validation instead.
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
    done(null, new RawJsonBody((body as Buffer).toString('utf8'), body as Buffer));
  });
  // Authentication and role come before the body (API.md): an unsupported or unparseable media type is refused by
  // parseBody, after the guards, instead of by Fastify's 415 before them.
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, _body, done) => {
    done(null, new NotJsonBody());
  });
  fastify.addHook('onRequest', (request, _reply, done) => {
    const contentType = request.headers['content-type'];
    if (contentType !== undefined && !PARSEABLE_CONTENT_TYPE.test(contentType)) request.headers['content-type'] = 'application/octet-stream';
    done();
  });
};

const describe = (errors: ValidationError[], prefix = ''): string[] =>
  errors.flatMap((e) => {
    const here = `${prefix}${e.property}`;
    const own = Object.values(e.constraints ?? {}).map((m) => (m.startsWith(e.property) ? `${prefix}${m}` : `${here}: ${m}`));
    return [...own, ...describe(e.children ?? [], `${here}.`)];
  });

/** No request body nests deeper than 3; class-transformer recurses once per level and overflows the stack near 3000. */
export const MAX_BODY_DEPTH = 32;

/**
 * What class-validator cannot see: class-transformer silently drops every key the target instance inherits a function
 * for (`toString`, `constructor`, `hasOwnProperty`, …), so `forbidNonWhitelisted` never hears of them; and it recurses
 * without bound. Walked iteratively, before the transformer runs.
 */
const shapeProblem = (plain: object): string | undefined => {
  const pending: Array<{ value: object; path: string; depth: number }> = [{ value: plain, path: '', depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.depth > MAX_BODY_DEPTH) return `the body nests deeper than ${MAX_BODY_DEPTH} levels`;
    const isArray = Array.isArray(next.value);
    for (const [key, child] of Object.entries(next.value)) {
      if (!isArray && key in Object.prototype) return `property ${next.path}${key} should not exist`;
      if (child !== null && typeof child === 'object') pending.push({ value: child as object, path: `${next.path}${key}.`, depth: next.depth + 1 });
    }
  }
  return undefined;
};

/**
 * The first key that one object of `text` names twice, or undefined. JSON.parse keeps the last value of a repeated key
 * without a word (RFC 8259 leaves it to the parser), so what a proxy, a log or a signer saw may not be what is acted
 * on; a body that says two things is refused instead. `text` is valid JSON (it parsed): one pass over its characters,
 * keys compared decoded (`"a"` and `"\u0061"` are one key), the open objects on an explicit stack.
 */
export const duplicateKeyIn = (text: string): string | undefined => {
  // One entry per open object or array: the keys seen so far in an object, undefined for an array.
  const open: Array<Set<string> | undefined> = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) {
      open.push(new Set());
      expectingKey = true;
    } else if (c === 0x5b /* [ */) {
      open.push(undefined);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
    } else if (c === 0x2c /* , */) {
      expectingKey = open[open.length - 1] !== undefined;
    } else if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c /* \ */) {
          escaped = true;
          i++;
        }
      }
      if (!expectingKey) continue;
      expectingKey = false;
      const raw = text.slice(start, i + 1);
      const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      const keys = open[open.length - 1] as Set<string>;
      if (keys.has(key)) return key;
      keys.add(key);
    }
  }
  return undefined;
};

/** A request DTO; it may carry a compiled check that accepts only what its decorators accept (see ReservationRequest). */
export interface BodyType<T> {
  new (): T;
  fastAccept?(body: Readonly<Record<string, unknown>>): boolean;
}

/**
 * Parses (rejecting __proto__ and constructor.prototype keys and repeated keys), then validates strictly: no unknown
 * field, no coercion.
 */
export const parseBody = <T extends object>(dto: BodyType<T>, raw: unknown): T => {
  if (!(raw instanceof RawJsonBody)) throw new ApiError('VALIDATION_FAILED', 'a JSON body (Content-Type: application/json) is required');
  let plain: unknown;
  try {
    plain = secureJson.parse(raw.text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new ApiError('VALIDATION_FAILED', 'the body is not valid JSON');
  }
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) throw new ApiError('VALIDATION_FAILED', 'the body must be a JSON object');
  const repeated = duplicateKeyIn(raw.text);
  if (repeated !== undefined) {
    // The key is not echoed: an answer never carries the request's own text back.
    throw new ApiError('VALIDATION_FAILED', 'the body names a key more than once');
  }
  if (dto.fastAccept?.(plain as Record<string, unknown>) === true) return Object.assign(new dto(), plain);
  const problem = shapeProblem(plain);
  if (problem !== undefined) throw new ApiError('VALIDATION_FAILED', problem);
  const instance = plainToInstance(dto, plain);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    const problems = describe(errors);
    throw new ApiError('VALIDATION_FAILED', problems.join('; '), { details: problems });
  }
  return instance;
};

const validatedBody = createParamDecorator((dto: new () => object, ctx: ExecutionContext) => parseBody(dto, ctx.switchToHttp().getRequest<FastifyRequest>().body));

/**
 * `@JsonBody(Dto) body: Dto` — the validated body. It also documents it: the handler's request body is `Dto` (its
 * `@ApiProperty` fields) and the route can answer what parsing refuses (VALIDATION_FAILED, and PAYLOAD_TOO_LARGE
 * from the body limit).
 */
export const JsonBody =
  (dto: new () => object): ParameterDecorator =>
  (target, key, index) => {
    validatedBody(dto)(target, key, index);
    const handler = key === undefined ? undefined : Object.getOwnPropertyDescriptor(target, key);
    if (key === undefined || handler === undefined) return;
    ApiBody({ type: dto })(target, key, handler);
    Refuses('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE')(target, key, handler);
  };
