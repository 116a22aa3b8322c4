import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiError } from '../http/error-catalogue';
import { retryAfterOf, toEnvelope } from '../http/error.filter';
import { Refuses } from '../http/refusals';
import { downSummary, healthReport, HealthReport } from './health-report';
import { ReadinessProbe } from './readiness-probe';

const READY_EXAMPLE = healthReport({
  store: { status: 'up', head: 1042 },
  catalog: { status: 'up', position: 1042, lagEvents: 0 },
  gate: { status: 'up', kind: 'redis' },
  projections: { status: 'up', analytics: { projection: 'analytics', position: 1040, head: 1042, lagEvents: 2, caughtUp: true } },
  worker: { status: 'up', mode: 'external', position: 1041, lagEvents: 1, reportedAt: '2026-12-24T20:00:01.000Z', reportedAgoMs: 400 },
});

const NOT_READY_EXAMPLE = {
  status: 'error',
  info: { store: { status: 'up', head: 1042 } },
  error: {
    code: 'NOT_READY',
    message: 'not ready: gate (the eligibility gate is unreachable or being rebuilt from the store)',
    retryable: true,
    retryAfterMs: 1000,
    gate: { status: 'down', message: 'the eligibility gate is unreachable or being rebuilt from the store', kind: 'redis' },
  },
  details: { store: { status: 'up', head: 1042 }, gate: { status: 'down', message: '…', kind: 'redis' } },
};

/** `/health/live`: the process answers. `/health/ready`: it can serve a sale (health-report.ts, readiness-probe.ts). */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(private readonly readiness: ReadinessProbe) {}

  @Get('live')
  @ApiOkResponse({ description: 'the process answers; nothing else is checked', schema: { example: { status: 'ok', info: {}, error: {}, details: {} } } })
  live(): HealthReport {
    return healthReport({});
  }

  /**
   * 200 with the report once every dependency is up; else 503 whose body is both the report and API.md's error
   * envelope: `error` holds the envelope's code, message and retryability beside the down dependencies, as terminus
   * puts them there.
   */
  @Get('ready')
  @ApiOkResponse({ description: 'the @nestjs/terminus shape: status, info, error, details — one entry per dependency', schema: { example: READY_EXAMPLE } })
  @ApiServiceUnavailableResponse({ description: 'NOT_READY, with the down dependencies in error', schema: { example: NOT_READY_EXAMPLE } })
  @Refuses('NOT_READY')
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthReport | (Omit<HealthReport, 'error'> & { error: object })> {
    const report = await this.readiness.check();
    if (report.status === 'ok') return report;
    const envelope = toEnvelope(new ApiError('NOT_READY', downSummary(report), { retryAfterMs: 1000 }));
    void reply.status(envelope.status).header('retry-after', retryAfterOf(envelope));
    return { ...report, error: { ...envelope.body.error, ...report.error } };
  }
}
