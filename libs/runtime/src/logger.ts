import pino from 'pino';
import { LogFormat, prettyDestination, resolveLogFormat } from './log-format';

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
 * JSON lines, or readable lines on a terminal (LOG_FORMAT, see log-format.ts). No request context is kept: a line
 * about a request carries `requestId` because its writer, which holds the request, puts it there (README, "Logs and
 * request ids": AsyncLocalStorage would cost every promise of the process on Node 20).
 */
export const createLogger = (level: string, format: LogFormat = 'json', service = 'flash-sale-api', out: NodeJS.WriteStream = process.stdout): Logger => {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (resolveLogFormat(format, out.isTTY) === 'json') return out === process.stdout ? pino(options) : pino(options, out);
  // hasColors exists only on a terminal's stream (LOG_FORMAT=pretty may write to a pipe).
  const colors = out.isTTY ? out.hasColors() : false;
  return pino(options, prettyDestination(out, colors));
};
