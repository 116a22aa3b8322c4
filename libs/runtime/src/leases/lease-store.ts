import { createHash } from 'node:crypto';

/**
 * Leases: which process runs a job that must run in exactly one place at a time (a worker's sagas, a projection),
 * with a fencing token (`fence`) that grows every time the job changes hands. What the job writes carries its
 * fence, and a store that has seen a higher one refuses the write: a process that lost its lease without knowing it
 * (paused, cut off) cannot overwrite its successor's work. Adapters: SQLite (processes on one host, one DATA_DIR)
 * and Redis (REDIS_URL: processes anywhere).
 */
export interface Lease {
  readonly job: string;
  readonly holder: string;
  readonly fence: number;
}

export interface LeaseStore {
  /**
   * Takes `job` for `holder` for `ttlMs` when nobody holds it or its holder's time ran out (a new, higher fence), or
   * extends it when `holder` holds it already (the same fence). Undefined while another holder's lease runs.
   */
  acquire(job: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Extends a lease still held under its fence, by `ttlMs` from now; false once it ran out or changed hands. */
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  /** Gives the job up at once (a clean stop), so a standby need not wait for the lease to run out. */
  release(lease: Lease): Promise<void>;
  close(): Promise<void>;
}

/**
 * Which store a job's lease and its posted status belong to, as a short stable name: the server-backed store's URL
 * (without credentials), or the embedded store's DATA_DIR. Two deployments (or two test runs) that share a Redis but
 * not a store must not contend for one lease: each would stand by for the other's worker.
 */
export const storeScope = (store: { readonly eventStoreUrl?: string; readonly dataDir: string }): string => {
  let where = `sqlite:${store.dataDir}`;
  if (store.eventStoreUrl !== undefined) {
    try {
      const url = new URL(store.eventStoreUrl);
      url.username = '';
      url.password = '';
      where = url.toString();
    } catch {
      where = store.eventStoreUrl;
    }
  }
  return createHash('sha256').update(where).digest('hex').slice(0, 16);
};
