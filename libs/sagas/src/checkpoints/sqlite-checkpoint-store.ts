import Database from 'better-sqlite3';
import { CheckpointStore } from '../ports';

/**
 * Where each log follower remembers how far it got. Losing a checkpoint only means replaying more of the log:
 * every follower's effects are idempotent, so NORMAL durability is enough here.
 */
export class SqliteCheckpointStore implements CheckpointStore {
  private readonly db: Database.Database;
  private readonly get: Database.Statement<[string], { position: number }>;
  private readonly put: Database.Statement<[string, number]>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID');
    this.get = this.db.prepare('SELECT position FROM checkpoints WHERE name = ?');
    this.put = this.db.prepare('INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position');
  }

  load(name: string): number {
    return this.get.get(name)?.position ?? 0;
  }

  save(name: string, position: number): void {
    this.put.run(name, position);
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
  save(name: string, position: number): void {
    this.positions.set(name, position);
  }
  close(): void {
    this.positions.clear();
  }
}
