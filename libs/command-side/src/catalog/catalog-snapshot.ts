import Database from 'better-sqlite3';
import { EventLoopSlices } from '@flash/event-store';
import { ClaimantIndex } from './claimant-index';
import { OrderLocator } from './order-locator';
import { CatalogSale, SaleCatalogue } from './sale-catalogue';

/** Where the api keeps its catalog snapshot in DATA_DIR. */
export const CATALOG_SNAPSHOT_FILE = 'catalog.sqlite';

/** The layout of the tables below; a file of another format is ignored (the indexes are then folded from 0). */
const FORMAT = 1;

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
export interface CatalogSnapshots {
  /** The position of the snapshot kept, or undefined when there is none (or of another format). */
  position(): number | undefined;
  /** Loads the snapshot into empty indexes, letting the event loop run between slices; returns its position. */
  restore(into: CatalogIndexes): Promise<number>;
  /** Replaces the snapshot with the indexes as they are, at `position` (all at once: a crash keeps the old one). */
  save(from: CatalogIndexes, position: number): void;
  close(): void;
}

/** The snapshot in a SQLite file of its own (DATA_DIR/catalog.sqlite). */
export class SqliteCatalogSnapshots implements CatalogSnapshots {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), format INTEGER NOT NULL, position INTEGER NOT NULL, sales TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, sale_id TEXT NOT NULL, shard INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS claimants (sale_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (sale_id, user_id)) WITHOUT ROWID;
    `);
  }

  position(): number | undefined {
    const row = this.db.prepare<[], { format: number; position: number }>('SELECT format, position FROM snapshot WHERE id = 1').get();
    return row?.format === FORMAT ? row.position : undefined;
  }

  async restore(into: CatalogIndexes): Promise<number> {
    const row = this.db.prepare<[], { format: number; position: number; sales: string }>('SELECT format, position, sales FROM snapshot WHERE id = 1').get();
    if (row?.format !== FORMAT) return 0;
    for (const sale of JSON.parse(row.sales) as CatalogSale[]) into.catalogue.restore(sale);
    // Hundreds of thousands of rows: read in slices, so /health/live is answered while they load.
    const slices = new EventLoopSlices();
    for (const o of this.db.prepare<[], { order_id: string; sale_id: string; shard: number }>('SELECT order_id, sale_id, shard FROM orders').iterate()) {
      into.locator.place(o.order_id, o.sale_id, o.shard);
      if (slices.due()) await slices.yield();
    }
    for (const c of this.db.prepare<[], { sale_id: string; user_id: string }>('SELECT sale_id, user_id FROM claimants').iterate()) {
      into.claimants.note(c.sale_id, c.user_id);
      if (slices.due()) await slices.yield();
    }
    return row.position;
  }

  save(from: CatalogIndexes, position: number): void {
    const putOrder = this.db.prepare<[string, string, number]>('INSERT INTO orders (order_id, sale_id, shard) VALUES (?, ?, ?)');
    const putClaimant = this.db.prepare<[string, string]>('INSERT INTO claimants (sale_id, user_id) VALUES (?, ?)');
    this.db.transaction(() => {
      this.db.exec('DELETE FROM snapshot; DELETE FROM orders; DELETE FROM claimants;');
      for (const [orderId, { saleId, shard }] of from.locator.entries()) putOrder.run(orderId, saleId, shard);
      for (const [saleId, userId] of from.claimants.entries()) putClaimant.run(saleId, userId);
      this.db
        .prepare<[number, number, string]>('INSERT INTO snapshot (id, format, position, sales) VALUES (1, ?, ?, ?)')
        .run(FORMAT, position, JSON.stringify(from.catalogue.allSales()));
    })();
  }

  close(): void {
    this.db.close();
  }
}
