import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';

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

/** A prom-client counter whose values come from `tallies` when it is collected. */
const talliedCounter = <L extends string>(registry: Registry, tallies: readonly LabelTally[], config: { name: string; help: string; labelNames: readonly L[] }): Counter<L> =>
  new Counter<L>({
    ...config,
    registers: [registry],
    collect() {
      for (const tally of tallies) tally.drainInto(this);
    },
  });

/** The answers of one route that counts its own (a route of its own plumbing), by status code. */
export interface RouteAnswers {
  answered(status: number): void;
}

/** The counters the request path increments; no dependencies, so anything can take them. */
@Injectable()
export class HotPathCounters {
  readonly registry = new Registry();
  private readonly routeTallies: LabelTally[] = [];
  private readonly refusals = new LabelTally((code) => ({ code }));
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
    help: 'Refused purchase requests by code (per sale in the analytics summary; not a label here, to bound cardinality)',
    labelNames: ['code'] as const,
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

  /** The request metric of a route that counts its own answers (taken once, when the route is built). */
  routeAnswers(method: string, route: string): RouteAnswers {
    const tally = new LabelTally((code) => ({ method, route, code }));
    this.routeTallies.push(tally);
    return { answered: (status) => tally.add(String(status)) };
  }

  rejected(code: string): void {
    this.refusals.add(code);
  }

  edgeAnswered(code: string): void {
    this.edgeCodes.add(code);
  }

  gateDecided(verdict: string): void {
    this.verdicts.add(verdict);
  }
}
