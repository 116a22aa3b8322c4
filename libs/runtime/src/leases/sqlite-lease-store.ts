import Database from 'better-sqlite3';
import { Lease, LeaseStore } from './lease-store';

interface LeaseRow {
  readonly holder: string;
  readonly fence: number;
  readonly expires_at: number;
}

/**
 * Leases in an SQLite file that every process on the host opens (the sagas' `worker.sqlite` in DATA_DIR), so that
 * the fence and the checkpoints it guards live in one database. Time is the host's clock, shared by its processes.
 * A row stays after its lease ends: its fence is the floor of the next holder's.
 */
export class SqliteLeaseStore implements LeaseStore {
  private readonly db: Database.Database;
  private readonly read: Database.Statement<[string], LeaseRow>;
  private readonly write: Database.Statement<[string, string, number, number]>;
  private readonly extend: Database.Statement<[number, string, string, number, number]>;
  private readonly end: Database.Statement<[number, string, string, number]>;
  private readonly take: (job: string, holder: string, ttlMs: number) => Lease | undefined;

  constructor(
    file: string,
    private readonly now: () => number = Date.now,
  ) {
    this.db = new Database(file);
    // First: every worker on the host opens this file, possibly at the same moment.
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS leases (job TEXT PRIMARY KEY, holder TEXT NOT NULL, fence INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID');
    this.read = this.db.prepare('SELECT holder, fence, expires_at FROM leases WHERE job = ?');
    this.write = this.db.prepare(
      'INSERT INTO leases (job, holder, fence, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, fence = excluded.fence, expires_at = excluded.expires_at',
    );
    this.extend = this.db.prepare('UPDATE leases SET expires_at = ? WHERE job = ? AND holder = ? AND fence = ? AND expires_at > ?');
    this.end = this.db.prepare('UPDATE leases SET expires_at = ? WHERE job = ? AND holder = ? AND fence = ?');
    // IMMEDIATE: the read and the write of one acquisition are one step, whoever else tries at the same moment.
    const take = this.db.transaction((job: string, holder: string, ttlMs: number): Lease | undefined => {
      const now = this.now();
      const row = this.read.get(job);
      const running = row !== undefined && row.expires_at > now;
      if (running && row.holder !== holder) return undefined;
      const fence = running ? row.fence : (row?.fence ?? 0) + 1;
      this.write.run(job, holder, fence, now + ttlMs);
      return { job, holder, fence };
    });
    this.take = (job, holder, ttlMs) => take.immediate(job, holder, ttlMs);
  }

  async acquire(job: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    return this.take(job, holder, ttlMs);
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const now = this.now();
    return this.extend.run(now + ttlMs, lease.job, lease.holder, lease.fence, now).changes === 1;
  }

  async release(lease: Lease): Promise<void> {
    this.end.run(0, lease.job, lease.holder, lease.fence);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
