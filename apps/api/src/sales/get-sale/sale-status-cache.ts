/**
 * The public status of each sale, kept for `ttlMs` (1 s: what `Cache-Control: max-age=1` already allows any proxy):
 * during a sale the whole crowd polls it, and each poll would otherwise fold the inventory and render the view
 * again. Only sales that exist are cached (a miss throws before anything is kept), so it holds at most one entry per
 * sale of the catalogue.
 */
export class SaleStatusCache<V> {
  private readonly entries = new Map<string, { readonly view: V; readonly expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  async get(saleId: string, render: () => Promise<V>): Promise<V> {
    const now = this.now();
    const kept = this.entries.get(saleId);
    if (kept !== undefined && now < kept.expiresAt) return kept.view;
    const view = await render();
    this.entries.set(saleId, { view, expiresAt: now + this.ttlMs });
    return view;
  }
}
