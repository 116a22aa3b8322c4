import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { LogIndexer } from '@flash/command-side';
import { ApiError } from './error-catalogue';

/** Until the catalog has caught up with the log, business routes answer 503 instead of answering wrongly. */
@Injectable()
export class ReadinessGuard implements CanActivate {
  constructor(private readonly catalog: LogIndexer) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.catalog.ready) return true;
    if (context.switchToHttp().getRequest<FastifyRequest>().url.startsWith('/health/')) return true;
    throw new ApiError('NOT_READY', 'the service is catching up with the event log', { retryAfterMs: 1000 });
  }
}
