import { LoggerService } from '@nestjs/common';
import pino from 'pino';
import { LogFormat, prettyDestination, resolveLogFormat } from './log-format';

export type Logger = pino.Logger;
export const LOGGER = Symbol('LOGGER');

/** JSON lines, or readable lines on a terminal (LOG_FORMAT, see log-format.ts). */
export const createLogger = (level: string, format: LogFormat = 'json'): Logger => {
  const options = { level, base: { service: 'flash-sale-api' } };
  if (resolveLogFormat(format, process.stdout.isTTY) === 'json') return pino(options);
  // hasColors exists only on a terminal's stream (LOG_FORMAT=pretty may write to a pipe).
  const colors = process.stdout.isTTY ? process.stdout.hasColors() : false;
  return pino(options, prettyDestination(process.stdout, colors));
};

/** Nest's start-up chatter (one line per module and route): kept for LOG_LEVEL=debug, out of a newcomer's way. */
const NEST_START_UP = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/** Routes Nest's own log lines into pino, so every line is structured. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    if (context !== undefined && NEST_START_UP.has(context)) this.logger.debug({ context }, String(message));
    else this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
