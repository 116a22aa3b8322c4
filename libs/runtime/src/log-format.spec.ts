import pino from 'pino';
import { loadConfig } from './config';
import { prettyDestination, prettyLine, resolveLogFormat } from './log-format';

const at = (h: number, m: number, s: number, ms: number): number => new Date(2026, 0, 2, h, m, s, ms).getTime();

describe('log format', () => {
  it('prints a pino line as time, level, message and its fields, without colours when told so', () => {
    const line = JSON.stringify({ level: 30, time: at(9, 5, 7, 42), service: 'flash-sale-api', msg: 'listening', port: 3000, host: '127.0.0.1', demo: true });
    expect(prettyLine(line, false)).toBe('09:05:07.042 INFO  listening  port=3000  host=127.0.0.1  demo=true\n');
  });

  it('quotes text that has spaces, shows objects as JSON and an error stack indented below', () => {
    const line = JSON.stringify({ level: 50, time: at(23, 59, 59, 999), msg: 'shutdown failed', reason: 'two words', shard: { id: 3 }, err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x (y.ts:1:1)' } });
    expect(prettyLine(line, false)).toBe('23:59:59.999 ERROR shutdown failed  reason="two words"  shard={"id":3}\n    Error: boom\n        at x (y.ts:1:1)\n');
  });

  it('colours the level on a terminal that has colours', () => {
    expect(prettyLine(JSON.stringify({ level: 40, time: 0, msg: 'slow' }), true)).toContain('\u001b[33mWARN \u001b[0m');
  });

  it('passes a line that is not JSON through untouched', () => {
    expect(prettyLine('not json', false)).toBe('not json\n');
  });

  it('is pretty on a terminal and JSON otherwise unless told', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  it('writes what pino logs through the pretty destination', () => {
    const written: string[] = [];
    const logger = pino({ level: 'info', base: { service: 'flash-sale-api' } }, prettyDestination({ write: (s: string) => written.push(s) } as unknown as NodeJS.WritableStream, false));
    logger.info({ saleId: 's-1' }, 'sale scheduled');
    logger.debug('hidden below the level');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}sale scheduled {2}saleId=s-1\n$/);
  });

  it('reads LOG_FORMAT, auto by default, and refuses anything else naming the variable', () => {
    const secrets = { JWT_SECRET: 'j'.repeat(32), PAYMENT_WEBHOOK_SECRET: 'w'.repeat(32) };
    expect(loadConfig(secrets).logFormat).toBe('auto');
    expect(loadConfig({ ...secrets, LOG_FORMAT: 'Pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ ...secrets, LOG_FORMAT: 'xml' })).toThrow('LOG_FORMAT must be one of auto, json, pretty, got "xml"');
  });
});
