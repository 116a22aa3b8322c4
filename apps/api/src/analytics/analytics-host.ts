import { Inject, Injectable } from '@nestjs/common';
import { DocumentStore, PipelineRunner, ProjectionHost, RejectionLog } from '@flash/read-models';
import { APP_CONFIG, AppConfig } from '../config';
import { Logger, LOGGER } from '../logger';
import { ANALYTICS_HOST, DOCUMENT_STORE, PIPELINE_RUNNER } from './analytics.providers';

/**
 * Runs the analytics read models inside the api process (embedded mode): the projection and the rejection flush; and
 * owns the analyst pipeline runner (its worker threads), stopped before the store it reads.
 */
@Injectable()
export class AnalyticsHost {
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(ANALYTICS_HOST) readonly projection: ProjectionHost,
    @Inject(DOCUMENT_STORE) private readonly docs: DocumentStore,
    @Inject(PIPELINE_RUNNER) private readonly pipelines: PipelineRunner,
    private readonly rejections: RejectionLog,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.projection.start();
    this.flushTimer = setInterval(() => void this.flush(), this.config.rejectionFlushMs);
    this.flushTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.flush();
    await this.projection.stop();
    await this.pipelines.close();
    await this.docs.close();
  }

  private async flush(): Promise<void> {
    try {
      await this.rejections.flush();
    } catch (error) {
      this.logger.warn({ err: error }, 'could not write rejection counts; they are kept for the next flush');
    }
  }
}
