import { DocumentStore, ResultRow } from '../document-store';
import { PipelineAnswer, PipelineLimits, PipelineRunner } from '../pipeline-runner';
import { ProjectionHost } from '../projection-host';
import { BUYERS, ORDERS, SALE_SUMMARY, SALE_TIMELINE } from './analytics.projection';
import { checkPipeline, PipelineRefused } from './pipeline-policy';
import { REJECTIONS, RejectionLog } from './rejection-log';
import { RoomWaitLog, RoomWaitSummary } from './room-waits';

/** What `POST /analytics/query` may name. */
export const QUERYABLE_COLLECTIONS: readonly string[] = [ORDERS, SALE_SUMMARY, SALE_TIMELINE, BUYERS, REJECTIONS];

export const TIMELINE_BUCKETS = { '1s': 1000, '10s': 10_000, '1m': 60_000 } as const;
export type TimelineBucket = keyof typeof TIMELINE_BUCKETS;

export interface SaleSummary {
  readonly saleId: string;
  readonly totalStock: number;
  readonly reserved: number;
  readonly placed: number;
  readonly paid: number;
  readonly expired: number;
  readonly cancelled: number;
  readonly refundPending: number;
  readonly orders: number;
  readonly available: number;
  readonly uniqueBuyers: number;
  readonly revenue: number;
  readonly rejections: Record<string, number>;
  /** A sale with its waiting room on, once someone was admitted: how many, and how long they waited (ticket to admission). */
  readonly waitingRoom?: RoomWaitSummary;
  readonly projectionPosition: number;
}

export interface TimelineRow {
  readonly t: string;
  readonly reserved: number;
  readonly paid: number;
  readonly expired: number;
  readonly cancelled: number;
  readonly rejected: number;
}

/** Internal sizes: a sale's per-second documents are few (one per second of activity). */
const INTERNAL_LIMITS = { maxRows: 1_000_000, maxTimeMs: 30_000 };

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

/** The analysts' questions: summary and timeline of a sale, and read-only pipelines over the read models. */
export class AnalyticsQueries {
  constructor(
    private readonly docs: DocumentStore,
    private readonly host: ProjectionHost,
    private readonly rejections: RejectionLog,
    private readonly pipelines: PipelineRunner,
    private readonly limits: PipelineLimits,
    private readonly roomWaits?: RoomWaitLog,
  ) {}

  async summary(saleId: string): Promise<SaleSummary | undefined> {
    const position = this.host.progress().position;
    const doc = await this.docs.get(this.host.collection(SALE_SUMMARY), saleId);
    if (!doc) return undefined;
    const waitingRoom = await this.roomWaits?.summary(saleId, INTERNAL_LIMITS);
    return {
      saleId,
      totalStock: num(doc.totalStock),
      reserved: num(doc.reserved),
      placed: num(doc.placed),
      paid: num(doc.paid),
      expired: num(doc.expired),
      cancelled: num(doc.cancelled),
      refundPending: num(doc.refundPending),
      orders: num(doc.orders),
      available: num(doc.available),
      uniqueBuyers: num(doc.uniqueBuyers),
      revenue: num(doc.revenue),
      rejections: await this.rejectionCounts(saleId),
      ...(waitingRoom ? { waitingRoom } : {}),
      projectionPosition: position,
    };
  }

  async timeline(saleId: string, bucket: TimelineBucket): Promise<TimelineRow[] | undefined> {
    if (!(await this.docs.get(this.host.collection(SALE_SUMMARY), saleId))) return undefined;
    const width = TIMELINE_BUCKETS[bucket];
    const rows = new Map<number, { reserved: number; paid: number; expired: number; cancelled: number; rejected: number }>();
    const row = (t: number) => {
      const start = Math.floor(t / width) * width;
      let found = rows.get(start);
      if (!found) rows.set(start, (found = { reserved: 0, paid: 0, expired: 0, cancelled: 0, rejected: 0 }));
      return found;
    };
    const seconds = await this.docs.aggregate(this.host.collection(SALE_TIMELINE), [{ $match: { saleId } }], INTERNAL_LIMITS);
    for (const doc of seconds.rows) {
      const r = row(num(doc.t));
      r.reserved += num(doc.reserved);
      r.paid += num(doc.paid);
      r.expired += num(doc.expired);
      r.cancelled += num(doc.cancelled);
    }
    for (const rejection of await this.rejectionDocuments(saleId)) row(num(rejection.t)).rejected += num(rejection.count);
    return [...rows.entries()].sort(([a], [b]) => a - b).map(([t, counts]) => ({ t: new Date(t).toISOString(), ...counts }));
  }

  /**
   * Runs an analyst's pipeline on a logical collection of the generation queries read now: checked here, run by the
   * pipeline runner (off this event loop when the store is embedded), answered as the JSON text to send.
   */
  async query(collection: string, pipeline: unknown): Promise<PipelineAnswer> {
    if (!QUERYABLE_COLLECTIONS.includes(collection)) throw new PipelineRefused(`unknown collection ${collection}; one of ${QUERYABLE_COLLECTIONS.join(', ')}`);
    checkPipeline(pipeline);
    const physical = collection === REJECTIONS ? REJECTIONS : this.host.collection(collection);
    return this.pipelines.run(physical, pipeline, this.limits);
  }

  private async rejectionDocuments(saleId: string): Promise<ResultRow[]> {
    const stored = await this.docs.aggregate(REJECTIONS, [{ $match: { saleId } }], INTERNAL_LIMITS);
    const pending = this.rejections.pending(saleId).map((p) => ({ _id: `${p.code}:${String(p.t)}`, ...p }));
    return [...stored.rows, ...pending];
  }

  private async rejectionCounts(saleId: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const doc of await this.rejectionDocuments(saleId)) {
      const code = String(doc.code);
      counts[code] = (counts[code] ?? 0) + num(doc.count);
    }
    return counts;
  }
}
