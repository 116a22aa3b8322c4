import { Inject, Injectable } from '@nestjs/common';
import { DocumentStore, PipelineRunner, ProjectionHost, RejectionLog, RoomWaitLog } from '@flash/read-models';
import { APP_CONFIG, AppConfig, Logger, LOGGER } from '@flash/runtime';
import { ANALYTICS_HOST, DOCUMENT_STORE, PIPELINE_RUNNER } from './analytics.providers';

/**
 * The analytics read models in the api process: the projection (fed here with WORKER=embedded, watched here while the
 * worker feeds it with WORKER=external), the flush of this process's rejection counts and waiting-room waits, and the analyst pipeline
 * runner (its worker threads), stopped before the store it reads.
 */
@Injectable()
export class AnalyticsHost {
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(ANALYTICS_HOST) readonly projection: ProjectionHost,
    @Inject(DOCUMENT_STORE) private readonly docs: DocumentStore,
    @Inject(PIPELINE_RUNNER) private readonly pipelines: PipelineRunner,
    private readonly rejections: RejectionLog,
    private readonly roomWaits: RoomWaitLog,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.projection.start(this.config.worker === 'external' ? 'watch' : 'run');
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
    try {
      await this.roomWaits.flush();
    } catch (error) {
      this.logger.warn({ err: error }, 'could not write waiting-room waits; they are kept for the next flush');
    }
  }
}
