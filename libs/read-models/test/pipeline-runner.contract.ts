import { PipelineRefused } from '../src/analytics/pipeline-policy';
import { DocumentStore, PipelineStage, QueryTimeLimitExceeded, StoredDocument } from '../src/document-store';
import { PipelineLimits, PipelineRunner, QueryTooLarge } from '../src/pipeline-runner';

const LIMITS: PipelineLimits = { maxRows: 1000, maxTimeMs: 10_000, maxBytes: 1024 * 1024 };

const orders: StoredDocument[] = [
  { _id: 'o1', saleId: 's1', userId: 'u1', quantity: 1, status: 'paid', amount: 500, note: 'ünïcödé 🛒' },
  { _id: 'o2', saleId: 's1', userId: 'u2', quantity: 2, status: 'expired', amount: 1000 },
  { _id: 'o3', saleId: 's1', userId: 'u1', quantity: 1, status: 'paid', amount: 500 },
  { _id: 'o4', saleId: 's2', userId: 'u3', quantity: 3, status: 'reserved', amount: 300 },
];

export interface PipelineRunnerFixture {
  readonly docs: DocumentStore;
  readonly runner: PipelineRunner;
  /** A pipeline over `orders` that cannot finish within `maxTimeMs`, and anything the adapter needs to make it so. */
  readonly slow: (maxTimeMs: number) => Promise<{ pipeline: PipelineStage[]; undo?: () => void }>;
  readonly close: () => Promise<void>;
}

/** What the answer says, read back as a client reads it. */
const parsed = (json: string): { rows: unknown[]; truncated: boolean } => JSON.parse(json) as { rows: unknown[]; truncated: boolean };

/**
 * The contract of every analyst pipeline runner: the answer as the JSON text that is sent, the row and byte caps,
 * the time limit, and a pipeline the engine cannot run refused with its stage named. Run against the embedded worker
 * threads and against MongoDB (or its wire stand-in in CI).
 */
export function pipelineRunnerContract(name: string, open: () => Promise<PipelineRunnerFixture>): void {
  describe(`analyst pipeline runner contract: ${name}`, () => {
    let fixture: PipelineRunnerFixture;
    const run = (pipeline: PipelineStage[], limits: Partial<PipelineLimits> = {}) => fixture.runner.run('orders', pipeline, { ...LIMITS, ...limits });

    beforeAll(async () => {
      fixture = await open();
      await fixture.docs.replace(orders.map((doc) => ({ collection: 'orders', doc })));
    });

    afterAll(async () => {
      await fixture.close();
    });

    it('answers the rows as the JSON text to send, its byte length within the cap', async () => {
      const answer = await run([{ $match: { saleId: 's1' } }, { $group: { _id: '$status', orders: { $sum: 1 }, units: { $sum: '$quantity' } } }, { $sort: { _id: 1 } }]);
      expect(parsed(answer.json)).toEqual({
        rows: [
          { _id: 'expired', orders: 1, units: 2 },
          { _id: 'paid', orders: 2, units: 2 },
        ],
        truncated: false,
      });
      expect({ rows: answer.rows, truncated: answer.truncated }).toEqual({ rows: 2, truncated: false });
      const unicode = await run([{ $match: { _id: 'o1' } }, { $project: { note: 1 } }]);
      expect(parsed(unicode.json)).toEqual({ rows: [{ _id: 'o1', note: 'ünïcödé 🛒' }], truncated: false });
    });

    it('caps the rows and says so', async () => {
      const capped = await run([{ $sort: { _id: 1 } }, { $project: { _id: 1 } }], { maxRows: 2 });
      expect(parsed(capped.json)).toEqual({ rows: [{ _id: 'o1' }, { _id: 'o2' }], truncated: true });
      const exact = await run([{ $sort: { _id: 1 } }, { $project: { _id: 1 } }], { maxRows: 4 });
      expect(parsed(exact.json)).toMatchObject({ truncated: false });
      expect(exact.rows).toBe(4);
    });

    it('answers an empty collection with no rows', async () => {
      const answer = await fixture.runner.run('nothing-here', [{ $match: {} }], LIMITS);
      expect(answer.json).toBe('{"rows":[],"truncated":false}');
    });

    it('refuses an answer over maxBytes, and gives one that fits it exactly', async () => {
      const all: PipelineStage[] = [{ $sort: { _id: 1 } }];
      const full = await run(all);
      const size = Buffer.byteLength(full.json);
      expect(await run(all, { maxBytes: size })).toEqual(full);
      await expect(run(all, { maxBytes: size - 1 })).rejects.toBeInstanceOf(QueryTooLarge);
      // One row far larger than the cap.
      await expect(run([{ $limit: 1 }, { $project: { big: { $range: [0, 200_000] } } }], { maxBytes: 64 * 1024 })).rejects.toBeInstanceOf(QueryTooLarge);
    });

    it('refuses a pipeline the engine cannot run, naming the stage', async () => {
      const refused: unknown = await run([{ $match: {} }, { $project: { ratio: { $divide: ['$amount', 0] } } }]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PipelineRefused);
      expect(refused).toMatchObject({ where: { stage: 1, operator: '$project' } });
      expect((refused as Error).message).toMatch(/^stage 1 \(\$project\): /);
    });

    it('abandons a pipeline past its time limit', async () => {
      const maxTimeMs = 200;
      const { pipeline, undo } = await fixture.slow(maxTimeMs);
      try {
        const error: unknown = await run(pipeline, { maxTimeMs }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(QueryTimeLimitExceeded);
        expect(error).toMatchObject({ maxTimeMs });
      } finally {
        undo?.();
      }
      // And the runner still answers afterwards.
      expect(parsed((await run([{ $count: 'n' }])).json)).toEqual({ rows: [{ n: 4 }], truncated: false });
    });
  });
}
