import { Controller, Get, Inject } from '@nestjs/common';
import { EventStore, eventsBehind } from '@flash/event-store';
import { ProjectionHost } from '@flash/read-models';
import { ANALYTICS_HOST } from '../analytics/analytics.providers';
import { Clock, CLOCK, GateKeeper, LogIndexer } from '@flash/command-side';
import { ApiError } from '../http/error-catalogue';
import { SagaHost } from '../sagas/saga-host';
import { EVENT_STORE } from '@flash/runtime';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: LogIndexer,
    private readonly sagas: SagaHost,
    private readonly gate: GateKeeper,
    @Inject(ANALYTICS_HOST) private readonly analytics: ProjectionHost,
  ) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /** Ready once the store answers, the catalog and the analytics projection have caught up with the log, and the gate is usable. */
  @Get('ready')
  async ready() {
    const head = await this.store.headPosition();
    if (!this.catalog.ready) throw new ApiError('NOT_READY', `catching up with the event log (${this.catalog.position}/${head})`);
    if (!(await this.gate.probeReady())) throw new ApiError('NOT_READY', 'the eligibility gate is unreachable or being rebuilt from the store');
    const projection = this.analytics.progress();
    if (!projection.caughtUp) throw new ApiError('NOT_READY', `the analytics projection is catching up (${projection.position}/${head})`);
    // With WORKER=external: what the worker last posted (`reportedAt`), and the api's own gate sync.
    const sagas = this.sagas.status(this.clock.now());
    return {
      status: 'ready',
      store: { head },
      catalog: { position: this.catalog.position, lagEvents: await eventsBehind(this.store, this.catalog.position, head) },
      ...(sagas === undefined ? {} : { sagas: { ...sagas, lagEvents: await eventsBehind(this.store, sagas.position, head) } }),
      projections: { [projection.projection]: projection },
    };
  }
}
