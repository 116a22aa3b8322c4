import { ChaosClient } from './chaos-client';
import { checkRun, keepHistory } from './checker';
import { chaosRuns, chaosSeed, runRng, sleep } from './rng';
import { ChaosServer } from './server';
import { ChaosSummary, describeViolations } from './summary';
import { runSpike, topUp, waitForSagas, prepareSpike } from './workload';

/**
 * SIGKILL of the api (embedded mode: SQLite store, in-process gate, sagas inside) at a random moment of a spike of
 * concurrent reservations, then a restart on the same DATA_DIR (sometimes a second kill while the sagas settle what
 * the first left), a recovery period, demand beyond the stock, and the checker.
 */
const KIND = 'api-kill';
const SEED = chaosSeed();
const RUNS = chaosRuns(6);
const SWEEP_MS = 100;
const SETTLE_MS = 300;

describe(`chaos: SIGKILL of the api mid-spike (seed ${SEED}, ${RUNS} runs)`, () => {
  const server = new ChaosServer({ SWEEP_INTERVAL_MS: String(SWEEP_MS), COMPENSATION_SETTLE_MS: String(SETTLE_MS) });
  const summary = new ChaosSummary(KIND, SEED);
  let client: ChaosClient;

  beforeAll(async () => {
    await server.start();
    client = new ChaosClient(server.baseUrl, server.jwtSecret, { connections: 64, timeoutMs: 5000 });
  }, 60_000);

  afterAll(async () => {
    summary.print();
    await client.close();
    await server.stop();
    server.cleanup();
  });

  /** One run: its whole timing comes from (seed, kind, index). */
  const run = async (seed: number, index: number): Promise<string[]> => {
    const rng = runRng(seed, KIND, index);
    const tag = `k${seed}-${index}`;
    const { saleId, stock, perUserLimit, history, attempts, tokens } = await prepareSpike(client, rng, tag, [14, 24]);

    // The spike, and the kill at a random moment inside it; the restart after a random downtime.
    history.phase = 'spike';
    const spreadMs = rng.int(100, 400);
    // Demand is a few times the stock: the sale is decided in the first part of the spread, so the kill lands there.
    const killAt = rng.int(0, Math.round(spreadMs * 0.5));
    const downMs = rng.int(0, 400);
    const spike = runSpike(client, history, rng, { saleId, attempts, spreadMs, clientRetries: [0, 2], retryBackoffMs: [20, 150] }, tokens);
    await sleep(killAt);
    await server.kill();
    await sleep(downMs);
    await server.start();
    await spike;
    // Sometimes a second kill while the restarted api settles what the first one left (compensation, expiry replay).
    let kills = 1;
    if (rng.chance(0.35)) {
      await sleep(rng.int(0, SETTLE_MS + 400));
      await server.kill();
      await server.start();
      kills++;
    }
    await client.reset();

    // Recovery: the sagas settle claims left without their order; then demand beyond the stock sells it out.
    history.phase = 'recovery';
    await waitForSagas(client, 10_000);
    await topUp(client, history, saleId, tag, { maxAttempts: stock * 3 + 20, deadlineMs: 15_000 });
    const report = await checkRun({ history, client, sale: { saleId, totalStock: stock, perUserLimit }, dataDir: server.dataDir, expectSoldOut: true });
    summary.add(history, report, kills);
    keepHistory(`${KIND}-${seed}-${index}`, history);
    return report.violations.length ? [describeViolations(`${KIND} run ${index}`, seed, report.violations, history)] : [];
  };

  for (let i = 0; i < RUNS; i++) {
    it(`run ${i}: kill at a random moment, restart, recover, check`, async () => {
      const problems = await run(SEED, i);
      if (problems.length) console.error(problems.join('\n'));
      expect(problems).toEqual([]);
    }, 90_000);
  }
});
