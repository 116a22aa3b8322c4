import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { LogIndexer } from '@flash/command-side';
import type { FastifyRequest } from 'fastify';

/** The routes that wait for the indexes: all but the health checks, which report the wait instead. */
export const waitsForReadiness = (url: string): boolean => !url.startsWith('/health/');

/** Until the command side's indexes have caught up with the log, business routes answer 503 instead of answering wrongly. */
@Injectable()
export class ReadinessGuard implements CanActivate {
  constructor(private readonly indexes: LogIndexer) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.indexes.ready || !waitsForReadiness(context.switchToHttp().getRequest<FastifyRequest>().url)) return true;
    this.indexes.refuseUnlessCaughtUp();
    return true;
  }
}
