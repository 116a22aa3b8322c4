import pino from 'pino';
import { LogFormat, prettyDestination, resolveLogFormat } from './log-format';

export type Logger = pino.Logger;
export const LOGGER = Symbol('LOGGER');

/** JSON lines, or readable lines on a terminal (LOG_FORMAT, see log-format.ts). */
export const createLogger = (level: string, format: LogFormat = 'json', service = 'flash-sale-api'): Logger => {
  const options = { level, base: { service } };
  if (resolveLogFormat(format, process.stdout.isTTY) === 'json') return pino(options);
  // hasColors exists only on a terminal's stream (LOG_FORMAT=pretty may write to a pipe).
  const colors = process.stdout.isTTY ? process.stdout.hasColors() : false;
  return pino(options, prettyDestination(process.stdout, colors));
};
