import Database from 'better-sqlite3';
import { CheckpointStore, FencedOff, StatusBoard } from '../ports';

/**
 * Where each log follower remembers how far it got, and posts its status for other processes (the worker's sagas,
 * read by the api). Losing a checkpoint only means replaying more of the log: every follower's effects are
 * idempotent, so NORMAL durability is enough here.
 */
export class SqliteCheckpointStore implements CheckpointStore, StatusBoard {
  private readonly db: Database.Database;
  private readonly get: Database.Statement<[string], { position: number }>;
  private readonly put: Database.Statement<[string, number, number]>;
  private readonly getStatus: Database.Statement<[string], { status: string; reported_at: number }>;
  private readonly putStatus: Database.Statement<[string, string, number]>;

  constructor(file: string) {
    this.db = new Database(file);
    // First: the api and the worker may open the file at the same moment.
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL, fence INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID');
    // A file written before fences existed: its checkpoints take fence 0, below any lease's.
    const columns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('checkpoints')").all();
    if (!columns.some((c) => c.name === 'fence')) this.db.exec('ALTER TABLE checkpoints ADD COLUMN fence INTEGER NOT NULL DEFAULT 0');
    this.db.exec('CREATE TABLE IF NOT EXISTS follower_status (name TEXT PRIMARY KEY, status TEXT NOT NULL, reported_at INTEGER NOT NULL) WITHOUT ROWID');
    this.getStatus = this.db.prepare('SELECT status, reported_at FROM follower_status WHERE name = ?');
    this.putStatus = this.db.prepare(
      'INSERT INTO follower_status (name, status, reported_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET status = excluded.status, reported_at = excluded.reported_at',
    );
    this.get = this.db.prepare('SELECT position FROM checkpoints WHERE name = ?');
    // A write under a lower fence than the stored one is dropped: it comes from a holder that was deposed.
    this.put = this.db.prepare(
      'INSERT INTO checkpoints (name, position, fence) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, fence = excluded.fence WHERE excluded.fence >= checkpoints.fence',
    );
  }

  load(name: string): number {
    return this.get.get(name)?.position ?? 0;
  }

  save(name: string, position: number, fence = 0): void {
    if (this.put.run(name, position, fence).changes === 0) throw new FencedOff(name, fence);
  }

  report(name: string, status: unknown, at: number): void {
    this.putStatus.run(name, JSON.stringify(status), at);
  }

  reported(name: string): { status: unknown; reportedAt: number } | undefined {
    const row = this.getStatus.get(name);
    return row === undefined ? undefined : { status: JSON.parse(row.status) as unknown, reportedAt: row.reported_at };
  }

  close(): void {
    this.db.close();
  }
}

export class MemoryCheckpointStore implements CheckpointStore {
  private readonly positions = new Map<string, number>();
  load(name: string): number {
    return this.positions.get(name) ?? 0;
  }
  private readonly fences = new Map<string, number>();
  save(name: string, position: number, fence = 0): void {
    if (fence < (this.fences.get(name) ?? 0)) throw new FencedOff(name, fence);
    this.fences.set(name, fence);
    this.positions.set(name, position);
  }
  close(): void {
    this.positions.clear();
  }
}
