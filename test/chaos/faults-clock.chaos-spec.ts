import { FakeClock } from '../../libs/sagas/test/saga-fixture';
import { ChaosClient } from './chaos-client';
import { checkRun, formatViolation, keepHistory, readStore } from './checker';
import { History } from './history';
import { InProcessApi } from './in-process-app';
import { chaosRuns, chaosSeed, runRng } from './rng';
import { ChaosSummary, describeViolations } from './summary';
import { chaosSale, createSale } from './workload';

/**
 * Clock jumps through the Clock port (CLOCK), in-process: holds are placed with a ttl, the clock jumps forward past
 * it and back, and the sagas sweep (by hand: `follower.tick()`) after every step. Expected after each sweep: a hold
 * whose deadline some sweep has reached is expired, exactly once, never before its deadline; a hold no sweep has
 * reached is still live; a jump back un-expires nothing and expires nothing early.
 */
const KIND = 'clock-jumps';
const SEED = chaosSeed();
const RUNS = chaosRuns(6);
const MINUTE = 60_000;

interface Hold {
  readonly orderId: string;
  readonly userId: string;
  readonly expiresAt: number;
  /** Some sweep ran at a clock ≥ expiresAt after the hold was placed: it must be expired from then on. */
  due: boolean;
}

describe(`chaos: clock jumps forward and back around hold deadlines (seed ${SEED}, ${RUNS} runs)`, () => {
  const summary = new ChaosSummary(KIND, SEED);
  afterAll(() => summary.print());

  const run = async (seed: number, index: number): Promise<string[]> => {
    const rng = runRng(seed, KIND, index);
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    const clock = new FakeClock(t0);
    // No timer-driven sweep: every sweep is a tick the run asks for, at the clock it has set.
    const api = await InProcessApi.start({ clock, env: { SWEEP_INTERVAL_MS: '60000' } });
    const client = new ChaosClient(api.baseUrl, api.jwtSecret, { connections: 16, timeoutMs: 5000 });
    const violations: string[] = [];
    const history = new History();
    let jumps = 0;
    try {
      const ttl = rng.int(2000, MINUTE);
      const stock = rng.int(8, 16);
      const perUserLimit = 2;
      const startsAt = t0 - 60 * MINUTE;
      const saleId = await createSale(
        client,
        chaosSale({ totalStock: stock, shards: rng.int(1, 3), perUserLimit, holdTtlMs: ttl, startsAt: new Date(startsAt).toISOString(), endsAt: new Date(t0 + 30 * 24 * 60 * MINUTE).toISOString() }),
      );
      const holds = new Map<string, Hold>();
      const users: string[] = [];
      const tag = `c${seed}-${index}`;
      let keyNo = 0;
      const steps = rng.int(8, 16);
      const trace: string[] = [];

      const verify = async (step: string): Promise<void> => {
        const store = await readStore(api.dataDir, saleId);
        for (const h of holds.values()) {
          const o = store.orders.get(h.orderId);
          if (!o) {
            violations.push(`${step}: acknowledged hold ${h.orderId} is not in the store`);
            continue;
          }
          if (o.expiredCount > 1) violations.push(`${step}: hold ${h.orderId} expired ${o.expiredCount} times`);
          if (h.due && o.expiredCount === 0) violations.push(`${step}: hold ${h.orderId} due at ${h.expiresAt - t0} (clock ${clock.now() - t0}) was not expired by the sweep`);
          if (!h.due && o.expiredCount > 0) violations.push(`${step}: hold ${h.orderId} due at ${h.expiresAt - t0} was expired early (clock ${clock.now() - t0})`);
          for (const at of o.expiredAt) if (at < h.expiresAt) violations.push(`${step}: hold ${h.orderId} expired at ${at - t0}, before its deadline ${h.expiresAt - t0}`);
          const read = await client.request('GET', `/orders/${h.orderId}`, { token: client.token(h.userId) });
          const expected = h.due ? 'expired' : 'reserved';
          if (read.status !== 200 || read.body.status !== expected) {
            violations.push(`${step}: GET /orders/${h.orderId} answered ${read.status} ${read.body?.status ?? JSON.stringify(read.body)}, expected ${expected}`);
          }
        }
      };

      /** A sweep at the clock's time: every hold whose deadline it reaches becomes due. */
      const sweep = async (step: string): Promise<void> => {
        await api.tick();
        for (const h of holds.values()) if (clock.now() >= h.expiresAt) h.due = true;
        await verify(step);
      };

      for (let s = 0; s < steps; s++) {
        const r = rng();
        let step: string;
        if (r < 0.45) {
          const n = rng.int(1, 3);
          for (let k = 0; k < n; k++) {
            const reuse = users.length > 0 && rng.chance(0.3);
            const userId = reuse ? rng.pick(users) : `${tag}-u${users.length}`;
            if (!reuse) users.push(userId);
            const token = (await client.purchaseToken(saleId, userId)) ?? 'no-token-sold-out';
            const placedAt = clock.now();
            const result = await client.reserve(history, { saleId, userId, idempotencyKey: `${tag}-key-${keyNo++}`, quantity: 1 }, token);
            if (result.outcome === 'ok' && result.answer) {
              const expiresAt = Date.parse(result.answer.expiresAt ?? '');
              if (expiresAt !== placedAt + ttl) violations.push(`hold ${result.answer.orderId} placed at ${placedAt - t0} expires at ${expiresAt - t0}, expected ${placedAt + ttl - t0}`);
              holds.set(result.answer.orderId, { orderId: result.answer.orderId, userId, expiresAt, due: false });
            } else if (result.outcome === 'unknown') {
              violations.push(`a reservation got an unknown outcome without any fault: ${result.status ?? ''} ${result.code ?? ''}`);
            }
          }
          step = `step ${s}: ${n} hold(s) at ${clock.now() - t0}`;
        } else if (r < 0.72) {
          const by = Math.round(ttl * (0.2 + rng() * 2.3));
          clock.advance(by);
          jumps++;
          step = `step ${s}: jump forward ${by} to ${clock.now() - t0}`;
        } else if (r < 0.92) {
          const by = Math.min(Math.round(ttl * (0.1 + rng() * 1.9)), clock.now() - startsAt - 1000);
          clock.advance(-by);
          jumps++;
          step = `step ${s}: jump back ${by} to ${clock.now() - t0}`;
        } else {
          step = `step ${s}: sweep at ${clock.now() - t0}`;
        }
        trace.push(step);
        await sweep(step);
      }

      // Past every deadline: every hold ends, once.
      const last = Math.max(clock.now(), ...[...holds.values()].map((h) => h.expiresAt));
      clock.set(last + 1);
      jumps++;
      await sweep('final sweep past every deadline');
      await api.tick();
      await verify('second final sweep');
      for (const h of holds.values()) if (!h.due) violations.push(`hold ${h.orderId} never became due (test bug)`);

      const report = await checkRun({ history, client, sale: { saleId, totalStock: stock, perUserLimit }, dataDir: api.dataDir, auditNow: clock.now() });
      violations.push(...report.violations.map(formatViolation));
      summary.add(history, { ...report, violations }, jumps);
      keepHistory(`${KIND}-${seed}-${index}`, history);
      return violations.length ? [describeViolations(`${KIND} run ${index} (ttl ${ttl}):\n  ${trace.join('\n  ')}`, seed, violations, history)] : [];
    } finally {
      await client.close();
      await api.close();
      api.cleanup();
    }
  };

  for (let i = 0; i < RUNS; i++) {
    it(`run ${i}: holds, jumps forward past the ttl and back, sweeps; expiry exactly once, never early`, async () => {
      const problems = await run(SEED, i);
      if (problems.length) console.error(problems.join('\n'));
      expect(problems).toEqual([]);
    }, 90_000);
  }
});
