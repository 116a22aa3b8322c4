import { ArgumentsHost, NotFoundException } from '@nestjs/common';
import pino from 'pino';
import { ApiError } from './error-catalogue';
import { ErrorEnvelopeFilter, toEnvelope } from './error.filter';

/** Errors as Fastify builds them (@fastify/error): a code, a status, and a message that quotes the input. */
const fastifyError = (code: string, statusCode: number, message: string) => Object.assign(new Error(message), { code, statusCode });

describe('toEnvelope', () => {
  const input = '/orders/<script>alert(1)</script>%ff';

  it("describes what the framework refuses in words of its own, never quoting the request's input", () => {
    const cases = [
      fastifyError('FST_ERR_BAD_URL', 400, `'${input}' is not a valid url component`),
      fastifyError('FST_ERR_MAX_PARAM_LENGTH', 414, `'${input}' is exceeding the max param length`),
      fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, `Unsupported Media Type: ${input}`),
      fastifyError('FST_ERR_SOMETHING_NEW', 400, `something about ${input}`),
      new NotFoundException(`Cannot GET ${input}`),
    ];
    for (const error of cases) expect(JSON.stringify(toEnvelope(error).body)).not.toContain('script');
  });

  it('keeps the code and status each framework refusal maps to', () => {
    expect(toEnvelope(fastifyError('FST_ERR_BAD_URL', 400, 'x'))).toEqual({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: 'the URL is not validly percent-encoded', retryable: false } },
    });
    expect(toEnvelope(fastifyError('FST_ERR_MAX_PARAM_LENGTH', 414, 'x')).body.error.code).toBe('VALIDATION_FAILED');
    expect(toEnvelope(fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413, 'x')).status).toBe(413);
    expect(toEnvelope(new NotFoundException('Cannot GET /x'))).toEqual({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no such resource or route', retryable: false } },
    });
  });
});

describe('ErrorEnvelopeFilter', () => {
  /** The filter on a Nest route's request `requestId`, with the lines it logs and the answer it sends. */
  const filterOn = (requestId: string) => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const sent: unknown[] = [];
    const reply = { header: () => reply, status: (status: number) => ({ send: (body: unknown) => void sent.push([status, body]) }) };
    const host = { switchToHttp: () => ({ getRequest: () => ({ id: requestId }), getResponse: () => reply }) } as unknown as ArgumentsHost;
    return { catch: (error: unknown) => new ErrorEnvelopeFilter(logger).catch(error, host), lines, sent };
  };

  it("logs a bug under the id of the request that met it, and answers INTERNAL without it", () => {
    const f = filterOn('req-bug-7');
    f.catch(new TypeError('boom'));
    expect(f.lines.map((l) => [l.level, l.msg, l.requestId, (l.err as { message?: string }).message])).toEqual([[50, 'unhandled error', 'req-bug-7', 'boom']]);
    expect(f.sent).toEqual([[500, { error: { code: 'INTERNAL', message: 'internal error', retryable: true } }]]);
  });

  it('logs nothing for a refusal', () => {
    const f = filterOn('req-8');
    f.catch(new ApiError('FORBIDDEN', 'no'));
    expect(f.lines).toEqual([]);
    expect(f.sent).toEqual([[403, { error: { code: 'FORBIDDEN', message: 'no', retryable: false } }]]);
  });
});
