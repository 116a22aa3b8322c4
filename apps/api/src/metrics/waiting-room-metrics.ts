import { Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { BucketHistogram } from './bucket-histogram';
import { HotPathCounters } from './hot-path-counters';

/** Seconds in line, from a ticket to its admission: a fair line at a sane rate keeps most under a few minutes. */
const WAIT_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];

/** What the waiting room reports when Prometheus scrapes (WaitingRoom registers itself). */
export interface WaitingRoomSources {
  /** Sales whose room is on and open. */
  sales(): readonly string[];
  /** Users waiting in the sale's line (shared across replicas with Redis). */
  length(saleId: string): Promise<number>;
  /** Admissions per second the rate rule allows the sale now. */
  rate(saleId: string): number;
}

/** The waiting room's metrics, in one place: line length, admissions, time in line, the current rate. */
@Injectable()
export class WaitingRoomMetrics {
  private sources: WaitingRoomSources | undefined;
  private readonly admittedTotal: Counter<'sale'>;
  private readonly waits: BucketHistogram;

  constructor(counters: HotPathCounters) {
    const registers = [counters.registry];
    // prom-client calls collect with the metric as `this`; the sources are read through this closure.
    const sourcesNow = (): WaitingRoomSources | undefined => this.sources;
    this.admittedTotal = new Counter({
      name: 'waiting_room_admitted_total',
      help: 'Users let through the waiting room by this process, by sale (rate() of it is admissions per second)',
      labelNames: ['sale'],
      registers,
    });
    this.waits = new BucketHistogram(counters.registry, {
      name: 'waiting_room_wait_seconds',
      help: 'Time from a waiting-room ticket to its admission',
      buckets: WAIT_BUCKETS,
    });
    new Gauge({
      name: 'waiting_room_queue_length',
      help: 'Users waiting in the line of each sale with its waiting room on',
      labelNames: ['sale'],
      registers,
      async collect() {
        const sources = sourcesNow();
        if (!sources) return;
        this.reset();
        for (const sale of sources.sales()) this.set({ sale }, await sources.length(sale).catch(() => 0));
      },
    });
    new Gauge({
      name: 'waiting_room_admit_rate',
      help: 'Admissions per second the rate rule allows now (admitPerSecond times the share the back end allows), by sale',
      labelNames: ['sale'],
      registers,
      collect() {
        const sources = sourcesNow();
        if (!sources) return;
        this.reset();
        for (const sale of sources.sales()) this.set({ sale }, sources.rate(sale));
      },
    });
  }

  report(sources: WaitingRoomSources): void {
    this.sources = sources;
  }

  admitted(saleId: string, waitsMs: readonly number[]): void {
    if (waitsMs.length === 0) return;
    this.admittedTotal.inc({ sale: saleId }, waitsMs.length);
    const series = this.waits.series({ sale: saleId });
    for (const ms of waitsMs) series.observe(ms / 1000);
  }
}
