import { PassThrough } from 'node:stream';
import { createLogger } from './logger';
import { inRequest } from './request-context';

/** A logger writing JSON lines into memory. */
const capture = () => {
  const out = new PassThrough() as PassThrough & NodeJS.WriteStream;
  const lines: Array<Record<string, unknown>> = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { logger: createLogger('debug', 'json', 'test', out), lines, flushed: () => new Promise((r) => setImmediate(r)) };
};

describe('createLogger', () => {
  it("puts the request's id on every line written while it is served, awaits included, and on no other line", async () => {
    const { logger, lines, flushed } = capture();
    const child = logger.child({ component: 'deep' });
    logger.info('before');
    await inRequest('req-42', async () => {
      logger.info('in the request');
      await new Promise((r) => setTimeout(r, 1));
      child.warn('after an await, from a child logger');
    });
    logger.info('after');
    await flushed();
    expect(lines.map((l) => [l.msg, l.requestId])).toEqual([
      ['before', undefined],
      ['in the request', 'req-42'],
      ['after an await, from a child logger', 'req-42'],
      ['after', undefined],
    ]);
  });

  it('censors an authorization header or a secret handed to it by mistake', async () => {
    const { logger, lines, flushed } = capture();
    logger.info({ headers: { authorization: 'Bearer eyJ.secret.token' }, config: { jwtSecret: 's3cret-s3cret' }, purchaseToken: 'pt' }, 'oops');
    await flushed();
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/eyJ|s3cret|"pt"/);
    expect(lines[0]).toMatchObject({ headers: { authorization: '[redacted]' }, config: { jwtSecret: '[redacted]' }, purchaseToken: '[redacted]' });
  });
});
