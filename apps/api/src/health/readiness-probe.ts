import { Inject, Injectable } from '@nestjs/common';
import { Clock, CLOCK, GateKeeper, LogIndexer } from '@flash/command-side';
import { EventStore, LagCounters } from '@flash/event-store';
import { ProjectionHost } from '@flash/read-models';
import { APP_CONFIG, AppConfig, EVENT_STORE } from '@flash/runtime';
import { ANALYTICS_HOST } from '../analytics/analytics.providers';
import { SagaHost } from '../sagas/saga-host';
import { down, healthReport, HealthReport, Indicator, up } from './health-report';

/** A store that has not answered by then is reported down rather than holding the probe (and the prober) open. */
const STORE_ANSWER_MS = 2000;

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const withinDeadline = async <T>(work: Promise<T>, ms: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * What /health/ready checks, each dependency on its own (one down never hides another): the store answers; the
 * command side's indexes (catalog) have caught up with its log; the eligibility gate is usable; the analytics
 * projection has caught up once; the sagas' worker — this process (WORKER=embedded), or the worker process, which
 * must have reported at least once (WORKER=external). Past start-up only the store, the catalog and the gate can go
 * down again: a projection or a worker that falls behind later is reported (lag, last report) but leaves every api
 * replica ready, since taking them all out of a load balancer for it would stop the sale.
 */
@Injectable()
export class ReadinessProbe {
  /** Probes come every few seconds from every load balancer: on a sparse store a lag count is reused a few seconds. */
  private readonly lag: LagCounters;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly catalog: LogIndexer,
    private readonly sagas: SagaHost,
    private readonly gate: GateKeeper,
    @Inject(ANALYTICS_HOST) private readonly analytics: ProjectionHost,
  ) {
    this.lag = new LagCounters(store);
  }

  async check(): Promise<HealthReport> {
    const [head, gateReady] = await Promise.all([
      withinDeadline(this.store.headPosition(), STORE_ANSWER_MS).then(
        (position) => ({ position }),
        (error: unknown) => ({ error: describe(error) }),
      ),
      this.gate.probeReady().catch(() => false),
    ]);
    const headPosition = 'position' in head ? head.position : undefined;
    // Counted, not subtracted: positions may be sparse (EventStoreDB's are log offsets).
    const lagBehind = async (follower: string, position: number): Promise<{ lagEvents?: number }> =>
      headPosition === undefined ? {} : { lagEvents: await this.lag.count(follower, position, headPosition).catch(() => 0) };
    const catalogLag = await lagBehind('catalog', this.catalog.position);
    const worker = await this.worker(lagBehind);
    return healthReport({
      store: 'position' in head ? up({ head: head.position }) : down(`the event store does not answer: ${head.error}`),
      catalog: this.catalog.ready
        ? up({ position: this.catalog.position, ...catalogLag })
        : down('catching up with the event log', { position: this.catalog.position, ...catalogLag }),
      gate: gateReady
        ? up({ kind: this.gateKind })
        : down('the eligibility gate is unreachable or being rebuilt from the store', { kind: this.gateKind }),
      projections: this.projections(),
      worker,
    });
  }

  private get gateKind(): 'redis' | 'in-process' {
    return this.config.redisUrl === undefined ? 'in-process' : 'redis';
  }

  private projections(): Indicator {
    const progress = this.analytics.progress();
    const detail = { [progress.projection]: progress };
    return progress.caughtUp ? up(detail) : down(`the ${progress.projection} projection is catching up (${progress.position}/${progress.head})`, detail);
  }

  /** With WORKER=external: what the worker last posted (`reportedAt`), with this process's own gate sync laid over it. */
  private async worker(lagBehind: (follower: string, position: number) => Promise<{ lagEvents?: number }>): Promise<Indicator> {
    const mode = this.config.worker;
    const sagas = this.sagas.status(this.clock.now());
    if (sagas === undefined || (mode === 'external' && sagas.reportedAt === undefined)) {
      return down('the worker has not reported yet (npm run worker, same DATA_DIR)', { mode });
    }
    const { reportedAt, ...status } = sagas;
    return up({
      mode,
      ...status,
      ...(await lagBehind('sagas', sagas.position)),
      ...(reportedAt === undefined ? {} : { reportedAt: new Date(reportedAt).toISOString(), reportedAgoMs: Math.max(0, Date.now() - reportedAt) }),
    });
  }
}
