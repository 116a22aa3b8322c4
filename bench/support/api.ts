import { BenchAuth, buyerId } from './buyers';

export interface SaleSpec {
  readonly totalStock: number;
  readonly shards: number;
  readonly perUserLimit?: number;
}

interface JsonResponse {
  readonly status: number;
  readonly body: any;
}

/** The few admin and buyer calls the rows make outside their timed windows. */
export class BenchApi {
  constructor(
    readonly baseUrl: string,
    private readonly auth: BenchAuth,
  ) {}

  private async call(method: string, path: string, authorization: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** An open reserve-mode sale (started a second ago, ends in two hours); returns its id. */
  async createSale(spec: SaleSpec): Promise<string> {
    const res = await this.call('POST', '/admin/sales', this.auth.admin(), {
      sku: 'BENCH',
      name: 'benchmark sale',
      price: 1999,
      totalStock: spec.totalStock,
      shards: spec.shards,
      startsAt: new Date(Date.now() - 1000).toISOString(),
      endsAt: new Date(Date.now() + 2 * 3600_000).toISOString(),
      perUserLimit: spec.perUserLimit ?? 1,
      inventoryMode: 'reserve',
      holdTtlMs: 600_000,
      challenge: 'none',
    });
    if (res.status !== 201) throw new Error(`creating the sale answered ${res.status}: ${JSON.stringify(res.body)}`);
    return (res.body as { id: string }).id;
  }

  async access(userId: string, saleId: string, bearer: string): Promise<JsonResponse> {
    return this.call('GET', `/sales/${saleId}/access`, bearer);
  }

  async reserve(saleId: string, bearer: string, idempotencyKey: string, purchaseToken: string): Promise<JsonResponse> {
    return this.call('POST', `/sales/${saleId}/reservations`, bearer, { quantity: 1, purchaseToken }, { 'idempotency-key': idempotencyKey });
  }

  /** The V8 heap as the server's /metrics reports it, in MiB. */
  async heap(): Promise<{ usedMiB: number; totalMiB: number }> {
    const text = await (await fetch(`${this.baseUrl}/metrics`)).text();
    const bytes = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { usedMiB: bytes('nodejs_heap_size_used_bytes') / 1048576, totalMiB: bytes('nodejs_heap_size_total_bytes') / 1048576 };
  }

  /** A metric summed over its label sets, from the server's /metrics (NaN when the server exports no such metric). */
  async metricSums(names: readonly string[]): Promise<Record<string, number>> {
    const text = await (await fetch(`${this.baseUrl}/metrics`)).text();
    const sums: Record<string, number> = {};
    for (const name of names) {
      const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
      sums[name] = values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0);
    }
    return sums;
  }

  async publicSale(saleId: string): Promise<JsonResponse> {
    return this.call('GET', `/sales/${saleId}`, '');
  }

  /**
   * Fetches a purchase token from GET /sales/:id/access and re-mints it locally for the same expiry: they must be
   * identical, or the load would be testing the token check rather than the purchase path.
   */
  async checkTokenEquivalence(saleId: string, buyer: number): Promise<void> {
    const userId = buyerId(buyer);
    // Setup, not the measurement: a replica still warming up (or sharing its core with the load generator signing its
    // tokens) may shed; what API.md tells a client is to retry after retryAfterMs, a few times.
    let res = await this.access(userId, saleId, this.auth.bearer(buyer));
    for (let retries = 0; retries < 10 && (res.body as { error?: { retryable?: boolean } } | undefined)?.error?.retryable === true; retries++) {
      await new Promise((resolve) => setTimeout(resolve, (res.body as { error: { retryAfterMs?: number } }).error.retryAfterMs ?? 1000));
      res = await this.access(userId, saleId, this.auth.bearer(buyer));
    }
    if (res.status !== 200) throw new Error(`GET /sales/${saleId}/access answered ${res.status}: ${JSON.stringify(res.body)}`);
    const { purchaseToken, expiresAt } = res.body as { purchaseToken: string; expiresAt: string };
    const local = this.auth.purchaseTokens.issue(userId, saleId, Date.parse(expiresAt) - 120_000).purchaseToken;
    if (local !== purchaseToken) throw new Error('a locally minted purchase token differs from the server one: the bench would be measuring 403s');
  }
}
