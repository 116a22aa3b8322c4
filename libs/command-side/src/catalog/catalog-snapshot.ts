import Database from 'better-sqlite3';
import { ClaimantIndex } from './claimant-index';
import { OrderLocator } from './order-locator';
import { CatalogSale, SaleCatalogue } from './sale-catalogue';

/** Where the api keeps its catalog snapshot in DATA_DIR. */
export const CATALOG_SNAPSHOT_FILE = 'catalog.sqlite';

/**
 * The layout of the tables below; a file of another format is ignored (the indexes are then folded from 0). 2: ids in
 * JSON arrays of up to CHUNK_IDS per row (format 1, a row per order and per claimant, loaded 3–4× slower). 3: the id of
 * the event at the snapshot's position kept beside it, so a snapshot is only ever loaded onto the log it was taken of.
 */
const FORMAT = 3;

/** Ids per row: a row is parsed between two turns of the event loop, so it stays a few milliseconds of work. */
const CHUNK_IDS = 10_000;

/** The command side's indexes a snapshot holds: everything LogIndexer folds from the log. */
export interface CatalogIndexes {
  readonly catalogue: SaleCatalogue;
  readonly locator: OrderLocator;
  readonly claimants: ClaimantIndex;
}

/**
 * The command side's indexes as of one log position, so that a restart replays the log from there instead of from 0
 * (bench row 9: 1.1M events folded in 12–26 s before every start). Never the truth: losing it, or a file of an
 * unknown format, only means folding from 0; every index applies events idempotently, so replaying what the snapshot
 * already holds changes nothing.
 */
/** Where a snapshot stands in the log: a position, and the id of the event the log holds there. */
export interface SnapshotAnchor {
  readonly position: number;
  readonly eventId: string;
}

export interface CatalogSnapshots {
  /** Where the snapshot kept stands, or undefined when there is none (or of another format). */
  anchor(): SnapshotAnchor | undefined;
  /**
   * Loads the snapshot into empty indexes, letting the event loop run between slices, all of it as of one moment (a
   * save meanwhile is not seen); returns its position. Loads nothing and returns 0 unless it still stands at `expected`
   * (the anchor the caller checked: saved again since, it is not the one checked).
   */
  restore(into: CatalogIndexes, expected: SnapshotAnchor): Promise<number>;
  /** Replaces the snapshot with the indexes as they are, at `at` (all at once: a crash keeps the old one). */
  save(from: CatalogIndexes, at: SnapshotAnchor): void;
  close(): void;
}

/** The snapshot in a SQLite file of its own (DATA_DIR/catalog.sqlite). */
export class SqliteCatalogSnapshots implements CatalogSnapshots {
  private readonly db: Database.Database;

  constructor(
    file: string,
    /** Ids per row (tests use small chunks to cross many rows). */
    private readonly chunk = CHUNK_IDS,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), format INTEGER NOT NULL, position INTEGER NOT NULL, sales TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot_anchor (id INTEGER PRIMARY KEY CHECK (id = 1), event_id TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS order_chunks (sale_id TEXT NOT NULL, shard INTEGER NOT NULL, order_ids TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS claimant_chunks (sale_id TEXT NOT NULL, user_ids TEXT NOT NULL);
    `);
  }

  anchor(): SnapshotAnchor | undefined {
    const row = this.readSnapshot();
    return row === undefined ? undefined : { position: row.position, eventId: row.event_id };
  }

  async restore(into: CatalogIndexes, expected: SnapshotAnchor): Promise<number> {
    // One read transaction for the whole load: its first SELECT fixes the WAL snapshot it reads, so a save() meanwhile
    // (another process, another connection on this file) is neither seen halfway nor blocked. Deferred, as a read.
    this.db.exec('BEGIN');
    try {
      const row = this.readSnapshot();
      // Saved again since the caller checked its anchor: what it checked is gone, nothing here is loaded.
      if (row === undefined || row.position !== expected.position || row.event_id !== expected.eventId) return 0;
      for (const sale of JSON.parse(row.sales) as CatalogSale[]) into.catalogue.restore(sale);
      await this.eachChunk<{ sale_id: string; shard: number; order_ids: string }>('order_chunks', ['sale_id', 'shard', 'order_ids'], (chunk) => {
        for (const orderId of JSON.parse(chunk.order_ids) as string[]) into.locator.place(orderId, chunk.sale_id, chunk.shard);
      });
      await this.eachChunk<{ sale_id: string; user_ids: string }>('claimant_chunks', ['sale_id', 'user_ids'], (chunk) => {
        for (const userId of JSON.parse(chunk.user_ids) as string[]) into.claimants.note(chunk.sale_id, userId);
      });
      return row.position;
    } finally {
      this.db.exec('COMMIT');
    }
  }

  /** A chunk table's rows read one at a time by rowid, with a turn of the event loop between them: /health/live is answered meanwhile. */
  private async eachChunk<T extends object>(table: 'order_chunks' | 'claimant_chunks', columns: ReadonlyArray<keyof T & string>, visit: (chunk: T) => void): Promise<void> {
    const next = this.db.prepare<[number], T & { rowid: number }>(`SELECT rowid, ${columns.join(', ')} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT 1`);
    for (let chunk = next.get(0); chunk !== undefined; chunk = next.get(chunk.rowid)) {
      visit(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The snapshot row with its anchor, or undefined when there is none (or of another format). */
  private readSnapshot(): { position: number; event_id: string; sales: string } | undefined {
    const row = this.db
      .prepare<[], { format: number; position: number; event_id: string; sales: string }>(
        'SELECT format, position, event_id, sales FROM snapshot JOIN snapshot_anchor USING (id) WHERE id = 1',
      )
      .get();
    return row?.format === FORMAT ? row : undefined;
  }

  save(from: CatalogIndexes, at: SnapshotAnchor): void {
    const orders = new Map<string, { saleId: string; shard: number; ids: string[] }>();
    for (const [orderId, { saleId, shard }] of from.locator.entries()) {
      const key = `${shard}:${saleId}`;
      let group = orders.get(key);
      if (group === undefined) orders.set(key, (group = { saleId, shard, ids: [] }));
      group.ids.push(orderId);
    }
    const claimants = new Map<string, string[]>();
    for (const [saleId, userId] of from.claimants.entries()) {
      let users = claimants.get(saleId);
      if (users === undefined) claimants.set(saleId, (users = []));
      users.push(userId);
    }
    const putOrders = this.db.prepare<[string, number, string]>('INSERT INTO order_chunks (sale_id, shard, order_ids) VALUES (?, ?, ?)');
    const putClaimants = this.db.prepare<[string, string]>('INSERT INTO claimant_chunks (sale_id, user_ids) VALUES (?, ?)');
    this.db.transaction(() => {
      // Format 1's tables too, if this file held one.
      this.db.exec('DELETE FROM snapshot; DELETE FROM snapshot_anchor; DELETE FROM order_chunks; DELETE FROM claimant_chunks; DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS claimants;');
      for (const { saleId, shard, ids } of orders.values()) {
        for (let i = 0; i < ids.length; i += this.chunk) putOrders.run(saleId, shard, JSON.stringify(ids.slice(i, i + this.chunk)));
      }
      for (const [saleId, users] of claimants) {
        for (let i = 0; i < users.length; i += this.chunk) putClaimants.run(saleId, JSON.stringify(users.slice(i, i + this.chunk)));
      }
      this.db
        .prepare<[number, number, string]>('INSERT INTO snapshot (id, format, position, sales) VALUES (1, ?, ?, ?)')
        .run(FORMAT, at.position, JSON.stringify(from.catalogue.allSales()));
      this.db.prepare<[string]>('INSERT INTO snapshot_anchor (id, event_id) VALUES (1, ?)').run(at.eventId);
    })();
  }

  close(): void {
    this.db.close();
  }
}
