import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { LogIndexer } from '@flash/command-side';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './error-catalogue';

/** What the HTTP layer asks of the command side's indexes (LogIndexer): have they caught up with the event log? */
export interface Readiness {
  readonly ready: boolean;
}

/** Until the catalog has caught up with the log, business routes answer 503 instead of answering wrongly. */
export const refuseUnlessReady = (readiness: Readiness): void => {
  if (!readiness.ready) throw new ApiError('NOT_READY', 'the service is catching up with the event log', { retryAfterMs: 1000 });
};

@Injectable()
export class ReadinessGuard implements CanActivate {
  constructor(private readonly readiness: LogIndexer) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.readiness.ready || context.switchToHttp().getRequest<FastifyRequest>().url.startsWith('/health/')) return true;
    refuseUnlessReady(this.readiness);
    return true;
  }
}
