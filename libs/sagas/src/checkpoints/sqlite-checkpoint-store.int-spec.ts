import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FencedOff } from '../ports';
import { SqliteCheckpointStore } from './sqlite-checkpoint-store';

describe('SqliteCheckpointStore shared by two processes (the worker posts, the api reads)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-checkpoints-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("shows one connection's checkpoints and posted status to another on the same file, the latest post winning", () => {
    const file = path.join(dir, 'worker.sqlite');
    const worker = new SqliteCheckpointStore(file);
    const api = new SqliteCheckpointStore(file);
    try {
      expect(api.reported('sagas')).toBeUndefined();
      worker.save('sagas', 42);
      worker.report('sagas', { position: 40, processes: { expiry: { backlog: 3, overdueMs: 0 } } }, 1_000);
      worker.report('sagas', { position: 42, processes: { expiry: { backlog: 1, overdueMs: 5 } } }, 2_000);

      expect(api.load('sagas')).toBe(42);
      expect(api.reported('sagas')).toEqual({ status: { position: 42, processes: { expiry: { backlog: 1, overdueMs: 5 } } }, reportedAt: 2_000 });
      expect(api.reported('projections')).toBeUndefined();
    } finally {
      worker.close();
      api.close();
    }
  });

  it('refuses a checkpoint written under a lower fence than the last one (a deposed worker), and takes equal or higher ones', () => {
    const file = path.join(dir, 'fenced.sqlite');
    const deposed = new SqliteCheckpointStore(file);
    const successor = new SqliteCheckpointStore(file);
    try {
      deposed.save('sagas', 10, 1);
      successor.save('sagas', 12, 2);
      expect(() => deposed.save('sagas', 11, 1)).toThrow(FencedOff);
      expect(successor.load('sagas')).toBe(12);
      successor.save('sagas', 15, 2);
      expect(deposed.load('sagas')).toBe(15);
    } finally {
      deposed.close();
      successor.close();
    }
  });

  it('opens a checkpoint file written before fences existed, its checkpoints below any fence', () => {
    const file = path.join(dir, 'old.sqlite');
    const old = new Database(file);
    old.exec('CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID');
    old.prepare('INSERT INTO checkpoints (name, position) VALUES (?, ?)').run('sagas', 7);
    old.close();
    const store = new SqliteCheckpointStore(file);
    try {
      expect(store.load('sagas')).toBe(7);
      store.save('sagas', 9, 1);
      expect(store.load('sagas')).toBe(9);
    } finally {
      store.close();
    }
  });
});
