import { Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import {
  AnalyticsQueries,
  PipelineRefused,
  PipelineRunnerBusy,
  ProjectionHost,
  QueryTimeLimitExceeded,
  QueryTooLarge,
  TIMELINE_BUCKETS,
  TimelineBucket,
} from '@flash/read-models';
import { Authenticated } from '../auth/auth.guard';
import { ApiError } from '../http/error-catalogue';
import { JsonBody } from '../http/json-body';
import { Refuses } from '../http/refusals';
import { ProjectionProgressSchema, QueryRowsSchema, SaleSummarySchema, TimelineRowSchema } from './analytics.schema';
import { AnalyticsQueryRequest } from './analytics.dto';
import { ANALYTICS_HOST } from './analytics.providers';
import { Logger, LOGGER } from '@flash/runtime';

const isBucket = (value: string): value is TimelineBucket => Object.prototype.hasOwnProperty.call(TIMELINE_BUCKETS, value);

/** The analysts' API: read models only, never the event store, never a write. */
@ApiTags('analytics')
@Controller('analytics')
@Authenticated('admin', 'analyst')
export class AnalyticsController {
  constructor(private readonly queries: AnalyticsQueries) {}

  @Get('sales/:id/summary')
  @ApiOkResponse({ type: SaleSummarySchema })
  @Refuses('NOT_FOUND')
  async summary(@Param('id') saleId: string) {
    const summary = await this.queries.summary(saleId);
    if (!summary) throw new ApiError('NOT_FOUND', `no sale ${saleId} in the read model`);
    return summary;
  }

  @Get('sales/:id/timeline')
  @ApiQuery({ name: 'bucket', required: false, enum: Object.keys(TIMELINE_BUCKETS), description: '1s by default' })
  @ApiOkResponse({ type: [TimelineRowSchema] })
  @Refuses('VALIDATION_FAILED', 'NOT_FOUND')
  async timeline(@Param('id') saleId: string, @Query() query: Record<string, unknown>) {
    // Other query parameters are ignored, as on every route; `bucket`, when given, must be one of the widths.
    const bucket = query.bucket ?? '1s';
    if (typeof bucket !== 'string' || !isBucket(bucket)) throw new ApiError('VALIDATION_FAILED', `bucket must be one of ${Object.keys(TIMELINE_BUCKETS).join(', ')}`);
    const rows = await this.queries.timeline(saleId, bucket);
    if (!rows) throw new ApiError('NOT_FOUND', `no sale ${saleId} in the read model`);
    return rows;
  }

  /** `{rows, truncated}`: the runner builds that JSON where the rows are (a worker thread, embedded), so it is sent as is. */
  @Post('query')
  @HttpCode(200)
  @ApiOkResponse({ type: QueryRowsSchema, description: 'time- and row-limited' })
  @Refuses('QUERY_TIMEOUT', 'QUERY_TOO_LARGE', 'OVERLOADED')
  async query(@JsonBody(AnalyticsQueryRequest) body: AnalyticsQueryRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    try {
      const answer = await this.queries.query(body.collection, body.pipeline);
      void reply.type('application/json; charset=utf-8');
      return answer.json;
    } catch (error) {
      if (error instanceof PipelineRefused) throw new ApiError('VALIDATION_FAILED', error.message, error.where ? { details: error.where } : {});
      if (error instanceof QueryTimeLimitExceeded) throw new ApiError('QUERY_TIMEOUT', error.message);
      if (error instanceof QueryTooLarge) throw new ApiError('QUERY_TOO_LARGE', error.message);
      if (error instanceof PipelineRunnerBusy) throw new ApiError('OVERLOADED', error.message, { retryAfterMs: error.retryAfterMs });
      throw error;
    }
  }
}

/** Operators' handle on the projections: progress and lag, pause/resume, blue/green rebuild. */
@ApiTags('admin')
@Controller('admin/projections')
@Authenticated('admin')
export class ProjectionsAdminController {
  constructor(
    @Inject(ANALYTICS_HOST) private readonly analytics: ProjectionHost,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get()
  @ApiOkResponse({ type: [ProjectionProgressSchema] })
  list() {
    return [this.analytics.progress()];
  }

  @Post(':name/:action')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: ProjectionProgressSchema, description: 'action is pause, resume or rebuild (in the background)' })
  @Refuses('NOT_FOUND')
  control(@Param('name') name: string, @Param('action') action: string) {
    if (name !== this.analytics.projection.name) throw new ApiError('NOT_FOUND', `no projection ${name}`);
    if (!this.analytics.feeding) {
      throw new ApiError('NOT_FOUND', `projection ${name} is fed by the worker process (WORKER=external): control it there, or rebuild with npm run projections`);
    }
    switch (action) {
      case 'pause':
        this.analytics.pause();
        break;
      case 'resume':
        this.analytics.resume();
        break;
      case 'rebuild':
        // Runs in the background; progress and the switch show in GET /admin/projections.
        void this.analytics.rebuild().then(
          (fresh) => this.logger.info({ projection: name, generation: fresh.generation }, 'projection rebuilt'),
          (error: unknown) => this.logger.error({ err: error, projection: name }, 'projection rebuild failed'),
        );
        break;
      default:
        throw new ApiError('NOT_FOUND', `no action ${action}; one of pause, resume, rebuild`);
    }
    return this.analytics.progress();
  }
}
