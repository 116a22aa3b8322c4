import { ChaosClient, HttpAnswer } from './chaos-client';
import { History, ReservationValue } from './history';
import { longMode, Rng, sleep } from './rng';

/** A sale that is open now, as an admin creates it (API.md), with the chaos run's shape. */
export const chaosSale = (overrides: Record<string, unknown> = {}, now = Date.now()) => ({
  sku: 'SKU-CHAOS',
  name: 'chaos sale',
  price: 1000,
  totalStock: 10,
  shards: 2,
  startsAt: new Date(now - 1000).toISOString(),
  endsAt: new Date(now + 3_600_000).toISOString(),
  perUserLimit: 2,
  inventoryMode: 'reserve',
  holdTtlMs: 600_000,
  challenge: 'none',
  ...overrides,
});

export const createSale = async (client: ChaosClient, body: Record<string, unknown>): Promise<string> => {
  const res = await client.request('POST', '/admin/sales', { token: client.token('chaos-admin', ['admin']), body });
  if (res.status !== 201) throw new Error(`sale not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
};

export const adminView = async (client: ChaosClient, saleId: string): Promise<any> => {
  const res = await client.request('GET', `/admin/sales/${saleId}`, { token: client.token('chaos-admin', ['admin']) });
  if (res.status !== 200) throw new Error(`GET /admin/sales/${saleId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};

export interface SpikePlan {
  readonly saleId: string;
  /** user → the reservations (key, quantity) that user attempts, all at once. */
  readonly attempts: readonly ReservationValue[];
  /** Each attempt starts at a random offset in [0, spreadMs]. */
  readonly spreadMs: number;
  /**
   * How often a client retries an attempt with the same key after an unknown outcome or a refused connection: drawn
   * per attempt from this range (0 = a client that gives up at once, as many real ones do).
   */
  readonly clientRetries: readonly [number, number];
  readonly retryBackoffMs: readonly [number, number];
  readonly timeoutMs?: number;
}

/** Many users, each with a few concurrent attempts of 1–2 units (per-user limit > 1, so the limit matters). */
export const planSpike = (rng: Rng, saleId: string, runTag: string, users: number, perUserLimit: number): ReservationValue[] => {
  const attempts: ReservationValue[] = [];
  for (let u = 0; u < users; u++) {
    const userId = `${runTag}-u${u}`;
    const count = rng.int(1, 3);
    for (let a = 0; a < count; a++) {
      attempts.push({ saleId, userId, idempotencyKey: `${runTag}-u${u}-k${a}-${rng.int(1000, 9999)}`, quantity: rng.int(1, Math.min(2, perUserLimit)) });
    }
  }
  return rng.shuffle(attempts);
};

/** Purchase tokens for every user of the plan, fetched before the spike (the access step is not under test here). */
export const fetchTokens = async (client: ChaosClient, saleId: string, users: Iterable<string>): Promise<Map<string, string>> => {
  const tokens = new Map<string, string>();
  await Promise.all(
    [...new Set(users)].map(async (u) => {
      const t = await client.purchaseToken(saleId, u);
      if (t === undefined) throw new Error(`no purchase token for ${u} before the spike`);
      tokens.set(u, t);
    }),
  );
  return tokens;
};

/**
 * Fires the plan: every attempt at its random offset; an attempt whose outcome is unknown (or whose connection was
 * refused while the server was down) is retried by its client with the same key, a few times, as a real client would.
 */
export const runSpike = async (client: ChaosClient, history: History, rng: Rng, plan: SpikePlan, tokens: Map<string, string>): Promise<void> => {
  const schedule = plan.attempts.map((a) => ({
    a,
    at: rng.int(0, plan.spreadMs),
    backoffs: Array.from({ length: rng.int(plan.clientRetries[0], plan.clientRetries[1]) }, () => rng.int(plan.retryBackoffMs[0], plan.retryBackoffMs[1])),
  }));
  await Promise.all(
    schedule.map(async ({ a, at, backoffs }) => {
      await sleep(at);
      let result = await client.reserve(history, a, tokens.get(a.userId) ?? 'missing-token', plan.timeoutMs);
      for (const backoff of backoffs) {
        const retry = result.outcome === 'unknown' || result.code === 'ECONNREFUSED';
        if (!retry) return;
        await sleep(backoff);
        result = await client.reserve(history, a, tokens.get(a.userId) ?? 'missing-token', plan.timeoutMs);
      }
    }),
  );
};

/**
 * After recovery, fresh buyers keep buying one unit each until the store says nothing is available (or a bound is
 * hit): demand exceeds stock, so a healthy sale ends sold out. Each attempt is recorded like any other.
 */
export const topUp = async (
  client: ChaosClient,
  history: History,
  saleId: string,
  runTag: string,
  options: { maxAttempts: number; deadlineMs: number },
): Promise<void> => {
  history.phase = 'top-up';
  const deadline = Date.now() + options.deadlineMs;
  for (let i = 0; i < options.maxAttempts && Date.now() < deadline; i++) {
    const view = await adminView(client, saleId);
    if (view.totals.available === 0) return;
    const userId = `${runTag}-top${i}`;
    const token = await client.purchaseToken(saleId, userId);
    if (token === undefined) {
      // access said sold out (or was refused): the local sold-out memory lasts 500 ms; stock may still come back.
      await sleep(150);
      continue;
    }
    const result = await client.reserve(history, { saleId, userId, idempotencyKey: `${runTag}-top${i}-key`, quantity: 1 }, token);
    if (result.outcome !== 'ok') await sleep(result.code === 'SOLD_OUT' ? 150 : 50);
  }
};

/** GET /health/ready until the sagas have nothing left to settle (compensation, quota release, gate sync). */
export const waitForSagas = async (client: ChaosClient, timeoutMs: number): Promise<HttpAnswer | undefined> => {
  const deadline = Date.now() + timeoutMs;
  let last: HttpAnswer | undefined;
  while (Date.now() < deadline) {
    try {
      last = await client.request('GET', '/health/ready', { timeoutMs: 2000 });
      const p = last.status === 200 ? last.body.details.worker?.processes : undefined;
      if (p && (p.compensation?.backlog ?? 0) === 0 && (p['quota-release']?.backlog ?? 0) === 0 && (p['gate-sync']?.backlog ?? 0) === 0 && last.body.details.worker.lagEvents === 0) {
        return last;
      }
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  return last;
};

export interface PreparedSpike {
  readonly saleId: string;
  readonly stock: number;
  readonly perUserLimit: number;
  readonly users: number;
  readonly history: History;
  readonly attempts: ReservationValue[];
  readonly tokens: Map<string, string>;
}

/**
 * One run's sale, buyers and purchase tokens. Everything is drawn from the run's rng in the same order in every mode
 * (the "big" draw included), so a seed replays the same timings in quick and long mode.
 */
export const prepareSpike = async (client: ChaosClient, rng: Rng, tag: string, smallUsers: readonly [number, number]): Promise<PreparedSpike> => {
  const big = rng.chance(0.3) && longMode();
  const stock = big ? rng.int(20, 40) : rng.int(6, 14);
  const perUserLimit = rng.int(2, 3);
  const users = big ? rng.int(40, 70) : rng.int(smallUsers[0], smallUsers[1]);
  const saleId = await createSale(client, chaosSale({ totalStock: stock, shards: rng.int(1, 4), perUserLimit }));
  const attempts = planSpike(rng, saleId, tag, users, perUserLimit);
  const tokens = await fetchTokens(client, saleId, attempts.map((a) => a.userId));
  return { saleId, stock, perUserLimit, users, history: new History(), attempts, tokens };
};
