import { NotFoundException } from '@nestjs/common';
import { toEnvelope } from './error.filter';

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
