import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { BucketHistogram, HistogramSeries } from './bucket-histogram';

/**
 * Counts by one label value in a plain Map and adds the counts to a prom-client counter when that is collected
 * (a scrape). On the request path an increment is then one Map update instead of prom-client's label validation and
 * hashing, which a profile of sold-out answers showed as a few percent of the request's time.
 */
class LabelTally {
  private readonly counts = new Map<string, number>();

  constructor(private readonly labelsOf: (value: string) => Record<string, string>) {}

  add(value: string): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }

  /** Moves the counts into the counter (from its collect hook). */
  drainInto(counter: Counter): void {
    for (const [value, n] of this.counts) if (n > 0) counter.inc(this.labelsOf(value), n);
    this.counts.clear();
  }
}

/** The same for two label values (a refusal's sale and code): a Map per first value, no key built per count. */
class PairTally {
  private readonly counts = new Map<string, Map<string, number>>();

  constructor(private readonly labelsOf: (first: string, second: string) => Record<string, string>) {}

  add(first: string, second: string): void {
    let inner = this.counts.get(first);
    if (!inner) this.counts.set(first, (inner = new Map<string, number>()));
    inner.set(second, (inner.get(second) ?? 0) + 1);
  }

  drainInto(counter: Counter): void {
    for (const [first, inner] of this.counts) for (const [second, n] of inner) if (n > 0) counter.inc(this.labelsOf(first, second), n);
    this.counts.clear();
  }
}

/** A prom-client counter whose values come from `tallies` when it is collected. */
const talliedCounter = <L extends string>(registry: Registry, tallies: readonly (LabelTally | PairTally)[], config: { name: string; help: string; labelNames: readonly L[] }): Counter<L> =>
  new Counter<L>({
    ...config,
    registers: [registry],
    collect() {
      for (const tally of tallies) tally.drainInto(this);
    },
  });

/** The answers of one route that counts its own (a route of its own plumbing), by status code. */
export interface RouteAnswers {
  /** `seconds`: how long the route took to answer, when the way in knows when it began. */
  answered(status: number, seconds?: number): void;
}

/** Request latencies, in seconds: a sold-out answer takes well under a millisecond, a durable 201 a few. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Commands per group-commit append: powers of two up to SHARD_MAX_BATCH's range. */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** The counters the request path increments; no dependencies, so anything can take them. */
@Injectable()
export class HotPathCounters {
  readonly registry = new Registry();
  private readonly routeTallies: LabelTally[] = [];
  private readonly refusals = new PairTally((sale, code) => ({ sale, code }));
  private readonly verdicts = new LabelTally((verdict) => ({ verdict }));
  private readonly edgeCodes = new LabelTally((code) => ({ code }));

  /** Every route's answers: the global onResponse hook (bootstrap.ts) for Fastify's routes, routeAnswers for the others. */
  readonly requests = talliedCounter(this.registry, this.routeTallies, {
    name: 'http_requests_total',
    help: 'HTTP requests by route and status code',
    labelNames: ['method', 'route', 'code'] as const,
  });
  readonly rejections = talliedCounter(this.registry, [this.refusals], {
    name: 'purchase_rejections_total',
    help: 'Refused purchase requests by sale and code (sales that exist only: a sale id a client made up is not a label)',
    labelNames: ['sale', 'code'] as const,
  });
  readonly gateDecisions = talliedCounter(this.registry, [this.verdicts], {
    name: 'gate_decisions_total',
    help: 'Eligibility gate decisions by verdict',
    labelNames: ['verdict'] as const,
  });

  readonly edgeAnswers = talliedCounter(this.registry, [this.edgeCodes], {
    name: 'http_edge_refusals_total',
    help: 'Errors answered before routing, by code: malformed or oversized requests, requests past REQUEST_TIMEOUT_MS, connections over MAX_CONNECTIONS_PER_IP, requests during the drain',
    labelNames: ['code'] as const,
  });

  readonly requestDuration = new BucketHistogram(this.registry, {
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by route: from routing to the response for Fastify routes, from the body to the answer for the reservation route',
    buckets: LATENCY_BUCKETS,
  });
  private readonly routeLatencies = new Map<string, HistogramSeries>();

  /** Group commit (libs/command-side ShardWriter): what each append of a shard writer carried and how long it took. */
  private readonly batchSizes = new BucketHistogram(this.registry, {
    name: 'shard_append_batch_size',
    help: 'Commands whose events went into one shard append (a group commit); its _sum counts the commands appended, its _count the appends',
    buckets: BATCH_SIZE_BUCKETS,
  }).series();
  private readonly appendDurations = new BucketHistogram(this.registry, {
    name: 'shard_append_duration_seconds',
    help: 'Time from a shard append to the store until it is durable (the store\'s commit and sync, as the purchase path waits for it)',
    buckets: LATENCY_BUCKETS,
  }).series();

  /** The request metric of a route that counts its own answers (taken once, when the route is built). */
  routeAnswers(method: string, route: string): RouteAnswers {
    const tally = new LabelTally((code) => ({ method, route, code }));
    this.routeTallies.push(tally);
    const latency = this.routeLatency(method, route);
    return {
      answered: (status, seconds) => {
        tally.add(String(status));
        if (seconds !== undefined) latency.observe(seconds);
      },
    };
  }

  /** The latency series of a route (the global onResponse hook asks per request; made once per route). */
  routeLatency(method: string, route: string): HistogramSeries {
    const key = `${method} ${route}`;
    let series = this.routeLatencies.get(key);
    if (!series) this.routeLatencies.set(key, (series = this.requestDuration.series({ method, route })));
    return series;
  }

  rejected(saleId: string, code: string): void {
    this.refusals.add(saleId, code);
  }

  private appendWindow = { seconds: 0, appends: 0 };

  /** A shard writer's append landed: `commands` decided into it, `seconds` waiting for the store. */
  shardAppended(commands: number, seconds: number): void {
    this.batchSizes.observe(commands);
    this.appendDurations.observe(seconds);
    this.appendWindow.seconds += seconds;
    this.appendWindow.appends++;
  }

  /** The mean append latency since the last call, ms (0 without appends): the waiting room's rate follows it. */
  takeMeanAppendMs(): number {
    const { seconds, appends } = this.appendWindow;
    this.appendWindow = { seconds: 0, appends: 0 };
    return appends === 0 ? 0 : (seconds * 1000) / appends;
  }

  edgeAnswered(code: string): void {
    this.edgeCodes.add(code);
  }

  gateDecided(verdict: string): void {
    this.verdicts.add(verdict);
  }
}
