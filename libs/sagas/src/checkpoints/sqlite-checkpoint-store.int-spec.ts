import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
});
