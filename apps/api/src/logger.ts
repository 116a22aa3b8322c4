import { LoggerService } from '@nestjs/common';
import pino from 'pino';

export type Logger = pino.Logger;
export const LOGGER = Symbol('LOGGER');

export const createLogger = (level: string): Logger => pino({ level, base: { service: 'flash-sale-api' } });

/** Routes Nest's own log lines into pino, so every line is structured. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
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
