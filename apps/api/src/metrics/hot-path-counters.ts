import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';

/** The counters the request path increments; no dependencies, so anything can take them. */
@Injectable()
export class HotPathCounters {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status code',
    labelNames: ['method', 'route', 'code'] as const,
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'purchase_rejections_total',
    help: 'Refused purchase requests by code (per sale in the analytics summary; not a label here, to bound cardinality)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly gateDecisions = new Counter({
    name: 'gate_decisions_total',
    help: 'Eligibility gate decisions by verdict',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
}
