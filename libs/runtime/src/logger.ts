import pino from 'pino';
import { LogFormat, prettyDestination, resolveLogFormat } from './log-format';
import { currentRequestId } from './request-context';

export type Logger = pino.Logger;
export const LOGGER = Symbol('LOGGER');

/**
 * Wherever a secret could be handed to a logger by mistake (a request's headers, a config object): censored, not
 * trusted to be left out. The e2e suite checks every line of every run for the secrets and tokens it uses.
 */
const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  'purchaseToken',
  'jwtSecret',
  'paymentWebhookSecret',
  'config.jwtSecret',
  'config.paymentWebhookSecret',
];

/**
 * JSON lines, or readable lines on a terminal (LOG_FORMAT, see log-format.ts). A line written while a request is
 * served carries its `requestId` (request-context.ts): the mixin reads it only for lines actually written, so a
 * level that is off costs nothing.
 */
export const createLogger = (level: string, format: LogFormat = 'json', service = 'flash-sale-api', out: NodeJS.WriteStream = process.stdout): Logger => {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    mixin: () => {
      const requestId = currentRequestId();
      // A new object each time: pino merges the line's own fields into it.
      return requestId === undefined ? {} : { requestId };
    },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (resolveLogFormat(format, out.isTTY) === 'json') return out === process.stdout ? pino(options) : pino(options, out);
  // hasColors exists only on a terminal's stream (LOG_FORMAT=pretty may write to a pipe).
  const colors = out.isTTY ? out.hasColors() : false;
  return pino(options, prettyDestination(out, colors));
};
