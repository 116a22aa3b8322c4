import type { Metric, Registry } from 'prom-client';

/** One labelled series of a BucketHistogram: what the request path holds and calls. */
export interface HistogramSeries {
  observe(value: number): void;
}

class Series implements HistogramSeries {
  /** Per bucket (not cumulative; the last one is +Inf): the scrape adds them up. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

export interface BucketHistogramConfig {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending (+Inf is implied). */
  readonly buckets: readonly number[];
}

/**
 * A Prometheus histogram whose series are bound once (`series(labels)`) and then observed with a bucket search and
 * three additions: none of the label validation and hashing prom-client's Histogram does per observation, which is
 * what HotPathCounters keeps off the purchase path for its counters too. prom-client's registry formats it at the
 * scrape like one of its own (it reads `get()`).
 */
export class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, Series>();

  constructor(
    registry: Registry,
    private readonly config: BucketHistogramConfig,
  ) {
    // prom-client's registry takes any object of its metric shape; its types list only its own classes.
    registry.registerMetric(this as unknown as Metric);
  }

  get name(): string {
    return this.config.name;
  }

  get help(): string {
    return this.config.help;
  }

  /** The series of these labels, made on first use: take it once (per route, per process), not per observation. */
  series(labels: Readonly<Record<string, string>> = {}): HistogramSeries {
    const key = JSON.stringify(labels);
    let found = this.all.get(key);
    if (!found) this.all.set(key, (found = new Series(labels, this.config.buckets)));
    return found;
  }

  /** What prom-client's registry formats: the cumulative buckets, the sum and the count of every series. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> } {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const s of this.all.values()) {
      let cumulative = 0;
      this.config.buckets.forEach((le, i) => {
        cumulative += s.counts[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.all.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
