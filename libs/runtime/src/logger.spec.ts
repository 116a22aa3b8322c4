import { PassThrough } from 'node:stream';
import { createLogger } from './logger';

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
  it('censors an authorization header or a secret handed to it by mistake', async () => {
    const { logger, lines, flushed } = capture();
    logger.info({ headers: { authorization: 'Bearer eyJ.secret.token' }, config: { jwtSecret: 's3cret-s3cret' }, purchaseToken: 'pt' }, 'oops');
    await flushed();
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/eyJ|s3cret|"pt"/);
    expect(lines[0]).toMatchObject({ headers: { authorization: '[redacted]' }, config: { jwtSecret: '[redacted]' }, purchaseToken: '[redacted]' });
  });
});
