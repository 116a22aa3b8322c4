import { ChaosClient } from './chaos-client';
import { checkRun, keepHistory } from './checker';
import { AppendFaultOdds, FaultyEventStore } from './faulty-store';
import { InProcessApi } from './in-process-app';
import { chaosRuns, chaosSeed, Rng, runRng } from './rng';
import { ChaosSummary, describeViolations } from './summary';
import { runSpike, topUp, waitForSagas, prepareSpike } from './workload';

/**
 * Store appends whose outcome the caller cannot know (written, then an error; a timeout whose write lands later) or
 * that are slow past the client's timeout or time out unwritten: in-process, through a decorator around the
 * EVENT_STORE port, driven over HTTP. Expected: each client gets a 201 or a retryable error; retries with the same
 * Idempotency-Key settle to exactly one order; the invariants hold.
 */
const KIND = 'store-faults';
const SEED = chaosSeed();
const RUNS = chaosRuns(6);
const CLIENT_TIMEOUT_MS = 600;

const oddsFor = (rng: Rng): AppendFaultOdds => ({
  odds: {
    'written-then-error': 0.05 + rng() * 0.25,
    'slow-write': rng() * 0.08,
    'timeout-unwritten': rng() * 0.1,
    'timeout-late-write': rng() * 0.08,
  },
  holdMs: [CLIENT_TIMEOUT_MS + 50, CLIENT_TIMEOUT_MS + rng.int(100, 700)],
  streams: (id) => id.startsWith('buyer-') || id.startsWith('inventory-'),
});

describe(`chaos: event store appends with unknown outcomes (seed ${SEED}, ${RUNS} runs)`, () => {
  const summary = new ChaosSummary(KIND, SEED);
  afterAll(() => summary.print());

  const run = async (seed: number, index: number): Promise<string[]> => {
    const rng = runRng(seed, KIND, index);
    let faulty: FaultyEventStore | undefined;
    const api = await InProcessApi.start({
      env: { SWEEP_INTERVAL_MS: '100', COMPENSATION_SETTLE_MS: '300' },
      wrapStore: (inner) => (faulty = new FaultyEventStore(inner, rng, oddsFor(rng))),
    });
    const client = new ChaosClient(api.baseUrl, api.jwtSecret, { connections: 64, timeoutMs: 5000 });
    try {
      const tag = `s${seed}-${index}`;
      const { saleId, stock, perUserLimit, history, attempts, tokens } = await prepareSpike(client, rng, tag, [12, 20]);

      history.phase = 'spike+store-faults';
      faulty!.enable();
      await runSpike(
        client,
        history,
        rng,
        { saleId, attempts, spreadMs: rng.int(50, 300), clientRetries: [0, 2], retryBackoffMs: [50, 250], timeoutMs: CLIENT_TIMEOUT_MS },
        tokens,
      );
      faulty!.disable();
      await faulty!.settled();

      history.phase = 'recovery';
      await waitForSagas(client, 10_000);
      await topUp(client, history, saleId, tag, { maxAttempts: stock * 3 + 20, deadlineMs: 15_000 });
      const report = await checkRun({ history, client, sale: { saleId, totalStock: stock, perUserLimit }, dataDir: api.dataDir, expectSoldOut: true });
      summary.add(history, report, faulty!.faults);
      keepHistory(`${KIND}-${seed}-${index}`, history);
      return report.violations.length
        ? [describeViolations(`${KIND} run ${index} (${JSON.stringify(faulty!.injected)})`, seed, report.violations, history)]
        : [];
    } finally {
      await client.close();
      await api.close();
      api.cleanup();
    }
  };

  for (let i = 0; i < RUNS; i++) {
    it(`run ${i}: appends fail after writing or time out during the spike; retries settle`, async () => {
      const problems = await run(SEED, i);
      if (problems.length) console.error(problems.join('\n'));
      expect(problems).toEqual([]);
    }, 90_000);
  }
});
