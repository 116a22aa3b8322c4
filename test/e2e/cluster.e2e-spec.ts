import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeWithPostgres, TestDatabase } from '../../libs/event-store/test/postgres-support';
import { describeRequiring } from '../support/ci';
import { eventually } from '../support/eventually';
import { parsePrometheusText, sampleSum } from '../support/prometheus-text';
import { RedisServer } from '../support/redis-server';
import { auditVerify } from './support/audit';
import { ApiClient, openSale } from './support/client';
import { LoggedEvent, readEventLog } from './support/event-log';
import { AccessLine, hasNginx, NginxEdge, requestFrom } from './support/nginx-edge';
import { pooled } from './support/pooled';
import { placeSentinelHold } from './support/sentinel-hold';
import { ServerProcess } from './support/server';

/**
 * The scale-out of issue #22 as docker-compose.yml runs it, on loopback: Debian's nginx with infra/nginx (addresses
 * rewritten) in front of two api replicas (WORKER=external) and two worker processes, on one PostgreSQL database and
 * one redis-server of the test's own, sharing one DATA_DIR as compose's `shared-data` volume. Every buyer goes through
 * nginx, from a loopback address of its own (127.s.x.y): nginx's per-address limits apply as shipped, to buyers who
 * each try a handful of times, and the api (TRUST_PROXY=127.0.0.1, nginx's address) sees each buyer's own address.
 * The replicas split each sale's stocked shards under leases in that Redis (SHARD_LEASE_MS); a killed replica's shards
 * are written by the survivor as a guest until their leases run out, then owned by it. This suite starts its own workers: it runs in `e2e` only, not `e2e-external`.
 */
const STOCK = 500;
const BUYERS = 1000;
const ATTEMPTS_PER_BUYER = 3;
const PER_USER = 2;
/** Attempts in flight at once, through nginx: a spike, not a stampede, on two cores shared with everything else. */
const CONCURRENCY = 32;
const SWEEP_MS = 200;
/** WORKER_LEASE_MS: short, so that a standby's takeover is quick to see. */
const LEASE_MS = 1500;
/** The late holds of the worker scenario run out this long after their purchase: long enough to place them and the early ones first. */
const HOLD_MS = 8000;
const HOLDS = 60;
/** The leading worker dies this long before the first of those holds falls due. */
const KILL_BEFORE_MS = 300;
/**
 * Slack on the expiry bound (sweep interval + lease), for what the bound does not model: two cores shared by two apis,
 * two workers, nginx, PostgreSQL, Redis and the test (a sweep timer firing late, the standby's renewal tick landing
 * up to a third of a lease after the lease ran out, a sweep of 60 expiries taking a few appends). Generous on
 * purpose: the bound is about the takeover costing a lease and no more, not about speed.
 */
const SLACK_MS = 2000;
/** Hang guards: a deadline is not a speed claim. */
const WAIT_MS = 30_000;
const SECRET = 'c'.repeat(40);
/** The refusals a buyer retries (API.md: retryable, with retryAfterMs), and how many times at most per attempt. */
const RETRYABLE = ['OVERLOADED', 'RATE_LIMITED'];
const MAX_RETRIES = 10;

/** Whether a worker's log says it took the sagas' lease. */
const tookSagas = (logs: string): boolean => logs.split('\n').some((line) => line.includes('job lease taken') && line.includes('"job":"sagas"'));

/** Buyer `i` of scenario `s` comes from an address of its own (never 127.0.0.1, which is nginx's, the trusted proxy). */
const addressOf = (scenario: number, buyer: number): string => `127.${scenario}.${Math.floor(buyer / 250)}.${(buyer % 250) + 1}`;

/** One buyer's attempt, in order: the buyers' order is shuffled, each buyer's attempts come together (so they race). */
const attemptPlan = (): Array<{ buyer: number; attempt: number }> =>
  Array.from({ length: BUYERS * ATTEMPTS_PER_BUYER }, (_, j) => ({ buyer: (Math.floor(j / ATTEMPTS_PER_BUYER) * 7919) % BUYERS, attempt: j % ATTEMPTS_PER_BUYER }));

interface EdgeAnswer {
  readonly status: number;
  readonly body: any;
}

interface Attempt {
  readonly buyer: number;
  readonly userId: string;
  readonly requestId: string;
  readonly startedAt: number;
  readonly answer: EdgeAnswer;
  /** The retryable refusals this attempt got before its answer, each followed by a retry with the same key. */
  readonly retried: ReadonlyArray<EdgeAnswer & { readonly requestId: string }>;
}

/** The replica behind an access-log line: the last one nginx tried (`a, b` when it went on to the next). */
const answeredBy = (line: AccessLine | undefined): string | undefined => line?.upstream.split(',').at(-1)?.trim();

describeRequiring(hasNginx, 'the cluster: nginx in front of two api replicas and two workers', () => {
  describeWithPostgres('on one PostgreSQL store and one Redis', () => {
    const database = new TestDatabase();
    const redis = new RedisServer();
    // compose's `shared-data` volume: the sagas' checkpoints and the worker lease fallback, on this host.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-cluster-'));
    const nginx = new NginxEdge();
    let replicas: ServerProcess[] = [];
    let direct: ApiClient;
    let admin = '';

    const env = () => ({
      EVENTSTORE_URL: database.url,
      REDIS_URL: redis.url,
      WORKER: 'external',
      TRUST_PROXY: '127.0.0.1',
      ACCESS_LIMITS: 'off',
      JWT_SECRET: SECRET,
      PAYMENT_WEBHOOK_SECRET: 'w'.repeat(40),
      SWEEP_INTERVAL_MS: String(SWEEP_MS),
      WORKER_LEASE_MS: String(LEASE_MS),
    });

    beforeAll(async () => {
      await database.create();
      await redis.start();
      replicas = [new ServerProcess({ label: 'cluster-a', dataDir, env: env() }), new ServerProcess({ label: 'cluster-b', dataDir, env: env() })];
      // Each replica's ServerProcess runs a worker beside it: the first one started leads, the other stands by.
      for (const replica of replicas) await replica.start();
      await nginx.start(replicas.map((r) => r.port));
      direct = new ApiClient(replicas[0]!.baseUrl, SECRET, 8);
      admin = direct.token('admin-1', ['admin']);
    });

    afterAll(async () => {
      await nginx.stop();
      await (direct as ApiClient | undefined)?.destroy();
      for (const replica of replicas) await replica.stop();
      await redis.stop();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    /** A request through nginx, from `from`, with the buyer's token; JSON both ways. */
    const edge = async (method: 'GET' | 'POST', url: string, options: { token: string; from: string; key?: string; requestId?: string; body?: unknown }): Promise<EdgeAnswer> => {
      const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
      if (options.key !== undefined) headers['idempotency-key'] = options.key;
      if (options.requestId !== undefined) headers['x-request-id'] = options.requestId;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const answer = await requestFrom(nginx.port, { method, path: url, headers, from: options.from, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
      const text = answer.body.toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: answer.status, body };
    };

    /**
     * What API.md tells a client to do, and a buyer does: a retryable refusal (a replica shedding load, nginx finding no
     * replica for a moment) is sent again after its retryAfterMs (the same Idempotency-Key, for a purchase), a bounded
     * number of times. The final answer is what the assertions judge; the retried ones are kept for the report.
     */
    const withRetries = async (requestId: string, send: (requestId: string) => Promise<EdgeAnswer>) => {
      const retried: Array<EdgeAnswer & { requestId: string }> = [];
      for (;;) {
        const id = retried.length === 0 ? requestId : `${requestId}-r${String(retried.length)}`;
        const answer = await send(id);
        const error = answer.body?.error;
        if (error?.retryable !== true || !RETRYABLE.includes(error.code) || retried.length >= MAX_RETRIES) return { answer, requestId: id, retried };
        retried.push({ ...answer, requestId: id });
        await new Promise((resolve) => setTimeout(resolve, Number(error.retryAfterMs ?? 1000)));
      }
    };

    const createSale = async (overrides: Record<string, unknown>): Promise<string> => {
      const sale = await direct.request('POST', '/admin/sales', { token: admin, body: openSale(overrides) });
      expect(sale.status).toBe(201);
      const saleId = sale.body.id as string;
      // Both replicas (and so nginx, whichever it picks) know the sale before the first buyer comes.
      for (const replica of replicas) await eventually(`${replica.baseUrl} knows the sale`, async () => (await fetch(`${replica.baseUrl}/sales/${saleId}`)).status === 200);
      return saleId;
    };

    /**
     * Scenario `scenario`'s sale: every buyer takes an access token through nginx, then the attempts of attemptPlan
     * go through nginx, CONCURRENCY at a time; `afterAnswer` sees every answer as it comes.
     */
    const runSale = async (scenario: number, saleId: string, afterAnswer: (attempts: readonly Attempt[]) => void = () => undefined): Promise<Attempt[]> => {
      const userOf = (buyer: number) => `s${scenario}-buyer-${buyer}`;
      const tokens = Array.from({ length: BUYERS }, (_, i) => direct.token(userOf(i)));
      const purchaseTokens = await pooled(tokens, CONCURRENCY, async (token, i) => {
        const { answer: access } = await withRetries(`cluster-s${scenario}-access-${i}`, (requestId) => edge('GET', `/sales/${saleId}/access`, { token, from: addressOf(scenario, i), requestId }));
        expect({ status: access.status, body: access.status === 200 ? undefined : access.body }).toEqual({ status: 200, body: undefined });
        return access.body.purchaseToken as string;
      });
      const attempts: Attempt[] = [];
      await pooled(attemptPlan(), CONCURRENCY, async ({ buyer, attempt }) => {
        const startedAt = Date.now();
        const { answer, requestId, retried } = await withRetries(`cluster-s${scenario}-${buyer}-${attempt}`, (id) =>
          edge('POST', `/sales/${saleId}/reservations`, {
            token: tokens[buyer]!,
            from: addressOf(scenario, buyer),
            key: `cluster-key-s${scenario}-${buyer}-${attempt}`,
            requestId: id,
            body: { quantity: 1, purchaseToken: purchaseTokens[buyer] },
          }),
        );
        attempts.push({ buyer, userId: userOf(buyer), requestId, startedAt, answer, retried });
        afterAnswer(attempts);
      });
      return attempts;
    };

    /** What a sale's log holds: its orders (with their buyers) and its expiries, per order. */
    const saleLog = (log: readonly LoggedEvent[], saleId: string) => {
      const placed = new Map(log.filter((e) => e.type === 'OrderPlaced' && e.data.saleId === saleId).map((e) => [e.data.orderId as string, e]));
      const expiries = new Map<string, LoggedEvent[]>();
      for (const e of log) if (e.type === 'ReservationExpired' && e.data.saleId === saleId) expiries.set(e.data.orderId, [...(expiries.get(e.data.orderId) ?? []), e]);
      const unitsPerUser = new Map<string, number>();
      for (const e of placed.values()) unitsPerUser.set(e.data.userId, (unitsPerUser.get(e.data.userId) ?? 0) + Number(e.data.quantity));
      return { placed, expiries, unitsPerUser };
    };

    /**
     * What every sale of 500 through the cluster must end with, however it went: every acknowledged purchase (a 201,
     * or the 200 replay nginx's resend to the next replica gets) is an order found through nginx and in the store;
     * exactly the stock sold, no buyer over the limit (in the answers and in the store); every refusal a sale's own
     * (sold out, limit), never an error of the cluster.
     */
    const expectSoldExactly = async (scenario: number, saleId: string, attempts: readonly Attempt[]) => {
      expect(attempts).toHaveLength(BUYERS * ATTEMPTS_PER_BUYER);
      const retries = new Map<string, number>();
      for (const a of attempts) for (const r of a.retried) retries.set(`${String(r.status)} ${String(r.body?.error?.code)}`, (retries.get(`${String(r.status)} ${String(r.body?.error?.code)}`) ?? 0) + 1);
      // Which replica refused, as nginx saw it (its upstream addresses and statuses), for the first few: the report says why.
      const lines = new Map(nginx.accessLines().map((l) => [l.requestId, l]));
      const seen = attempts.flatMap((a) => a.retried.map((r) => lines.get(r.requestId))).slice(0, 5);
      console.log(
        `scenario ${String(scenario)}: retryable refusals retried with the same key: ${retries.size === 0 ? 'none' : [...retries].map(([k, n]) => `${k} × ${String(n)}`).join(', ')}` +
          (seen.length === 0 ? '' : `; nginx saw the first ones as ${JSON.stringify(seen)}`),
      );
      const acknowledged = attempts.filter((a) => a.answer.status === 201 || a.answer.status === 200);
      const refused = attempts.filter((a) => !acknowledged.includes(a));
      expect(refused.filter((a) => !['SOLD_OUT', 'LIMIT_EXCEEDED'].includes(a.answer.body?.error?.code)).map((a) => ({ id: a.requestId, ...a.answer }))).toEqual([]);
      // The limit was put to the test (a buyer's attempts race, on both replicas), and held.
      expect(refused.some((a) => a.answer.body.error.code === 'LIMIT_EXCEEDED')).toBe(true);
      const orderIds = new Set(acknowledged.map((a) => a.answer.body.orderId as string));
      expect(orderIds.size).toBe(STOCK);
      const perBuyer = new Map<string, number>();
      for (const a of acknowledged) perBuyer.set(a.userId, (perBuyer.get(a.userId) ?? 0) + 1);
      expect([...perBuyer].filter(([, units]) => units > PER_USER)).toEqual([]);

      // Found through nginx by its buyer, whichever replica is asked.
      const found = await pooled(acknowledged, CONCURRENCY, async (a) => ({
        a,
        res: await edge('GET', `/orders/${a.answer.body.orderId as string}`, { token: direct.token(a.userId), from: addressOf(scenario, a.buyer) }),
      }));
      expect(found.filter(({ a, res }) => res.status !== 200 || res.body.orderId !== a.answer.body.orderId).map(({ a, res }) => ({ id: a.requestId, status: res.status, body: res.body }))).toEqual([]);

      // The store's truth: the admin view's totals, and the log itself.
      const view = await direct.request('GET', `/admin/sales/${saleId}`, { token: admin });
      expect(view.body.totals).toMatchObject({ reserved: STOCK, available: 0 });
      const { placed, unitsPerUser } = saleLog(await readEventLog({ dataDir, eventStoreUrl: database.url }), saleId);
      expect(placed.size).toBe(STOCK);
      expect([...orderIds].filter((id) => !placed.has(id))).toEqual([]);
      expect([...unitsPerUser].filter(([, units]) => units > PER_USER)).toEqual([]);
      return { acknowledged };
    };

    /** Each replica's own /metrics, scraped directly (not through nginx): a sample summed per replica. */
    const perReplica = async (name: string, labels: Record<string, string> = {}): Promise<number[]> =>
      Promise.all(replicas.map(async (r) => sampleSum(parsePrometheusText(await (await fetch(`${r.baseUrl}/metrics`)).text()), name, labels)));
    /** Each replica's 201s on the reservation route. */
    const reservations201 = () => perReplica('http_requests_total', { method: 'POST', route: '/sales/:id/reservations', code: '201' });

    it('sells exactly the stock through nginx: 3,000 attempts by 1,000 buyers, both replicas selling, no buyer over the limit', async () => {
      const saleId = await createSale({ totalStock: STOCK, shards: 8, perUserLimit: PER_USER });
      const before = await reservations201();
      const attempts = await runSale(1, saleId);
      const { acknowledged } = await expectSoldExactly(1, saleId, attempts);
      // Nobody was resent anywhere (both replicas up): every acknowledgement is a 201.
      expect(acknowledged.filter((a) => a.answer.status !== 201)).toEqual([]);

      // Both replicas sold: by their own counters, and by nginx's access log (which replica answered each request).
      const sold = (await reservations201()).map((n, i) => n - before[i]!);
      const lines = new Map(nginx.accessLines().map((l) => [l.requestId, l]));
      const byLog = replicas.map((r) => acknowledged.filter((a) => answeredBy(lines.get(a.requestId)) === `127.0.0.1:${r.port}`).length);
      // For the report: what two writers of every shard cost (until shard ownership under leases lands).
      const conflicts = await perReplica('shard_occ_conflicts_total');
      console.log(`scenario 1: 201s per replica (its /metrics) ${sold.join(' + ')}, (nginx's log) ${byLog.join(' + ')}; shard OCC conflicts ${conflicts.join(' + ')}`);
      expect(sold.every((n) => n > 0)).toBe(true);
      expect(sold.reduce((x, y) => x + y)).toBe(STOCK);
      expect(byLog).toEqual(sold);

      const audit = await auditVerify({ dataDir, eventStoreUrl: database.url });
      expect({ exitCode: audit.exitCode, broken: audit.exitCode === 0 ? undefined : audit.report }).toEqual({ exitCode: 0, broken: undefined });
    });

    it('loses nothing acknowledged when a replica is SIGKILLed mid-sale: nginx routes around it and the sale sells out exactly', async () => {
      const saleId = await createSale({ totalStock: STOCK, shards: 8, perUserLimit: PER_USER });
      const victim = replicas[1]!;
      let killedAt = 0;
      let killed: Promise<unknown> | undefined;
      // Killed once a third of the stock is acknowledged: mid-sale, with attempts in flight on it.
      const attempts = await runSale(2, saleId, (so) => {
        if (killed === undefined && so.filter((a) => a.answer.status === 201).length >= STOCK / 3) {
          killedAt = Date.now();
          killed = victim.kill();
        }
      });
      try {
        expect(await killed).toBe('SIGKILL');
        await expectReplicaLoss(saleId, attempts, victim, killedAt);
      } finally {
        // Back for the next scenario (its worker ran on all along), whatever this one found.
        if (killed !== undefined) await victim.start();
      }
    });

    const expectReplicaLoss = async (saleId: string, attempts: readonly Attempt[], victim: ServerProcess, killedAt: number) => {
      const { acknowledged } = await expectSoldExactly(2, saleId, attempts);
      const after = attempts.filter((a) => a.startedAt >= killedAt);
      // The sale went on after the kill: attempts were answered, and some of them sold.
      expect(after.length).toBeGreaterThan(0);
      expect(acknowledged.filter((a) => a.startedAt >= killedAt).length).toBeGreaterThan(0);

      // nginx's log: after the kill, what reached the dead replica went on to the live one (never a 502 to the buyer).
      const victimAddress = `127.0.0.1:${victim.port}`;
      const lines = new Map(nginx.accessLines().map((l) => [l.requestId, l]));
      const resent = after.filter((a) => lines.get(a.requestId)?.upstream.includes(victimAddress));
      // Among what was acknowledged (and found above, through the live replica): purchases the dead replica itself answered.
      expect(acknowledged.filter((a) => answeredBy(lines.get(a.requestId)) === victimAddress).length).toBeGreaterThan(0);
      expect(after.filter((a) => answeredBy(lines.get(a.requestId)) === victimAddress).map((a) => ({ id: a.requestId, line: lines.get(a.requestId) }))).toEqual([]);
      console.log(
        `scenario 2: replica SIGKILLed after ${String(attempts.filter((a) => a.startedAt < killedAt).length)} attempts; ${String(after.length)} attempts after it, ` +
          `${String(resent.length)} of them tried on the dead replica first and resent; ${String(acknowledged.filter((a) => a.answer.status === 200).length)} acknowledged as a replay`,
      );

      const audit = await auditVerify({ dataDir, eventStoreUrl: database.url });
      expect({ exitCode: audit.exitCode, broken: audit.exitCode === 0 ? undefined : audit.report }).toEqual({ exitCode: 0, broken: undefined });
    };

    it('has the standby worker expire every unpaid hold once, within the sweep interval and a lease of its deadline, when the leading worker is SIGKILLed', async () => {
      const leaders = replicas.filter((r) => tookSagas(r.workerLogs));
      expect(leaders).toHaveLength(1);
      const leader = leaders[0]!;
      const standby = replicas.find((r) => r !== leader)!;
      expect(tookSagas(standby.workerLogs)).toBe(false);

      /** HOLDS holds through nginx on a sale of their own, by buyers of their own. */
      const placeHolds = async (label: string, holdTtlMs: number, firstBuyer: number) => {
        const saleId = await createSale({ totalStock: HOLDS, shards: 4, perUserLimit: 1, holdTtlMs });
        const holds = await pooled(
          Array.from({ length: HOLDS }, (_, i) => firstBuyer + i),
          16,
          async (i) => {
            const userId = `s3-${label}-buyer-${i}`;
            const token = direct.token(userId);
            const from = addressOf(3, i);
            const { answer: access } = await withRetries(`cluster-s3-${label}-access-${i}`, (requestId) => edge('GET', `/sales/${saleId}/access`, { token, from, requestId }));
            const { answer: hold } = await withRetries(`cluster-s3-${label}-${i}`, (requestId) =>
              edge('POST', `/sales/${saleId}/reservations`, { token, from, key: `cluster-hold-${label}-${i}`, requestId, body: { quantity: 1, purchaseToken: access.body.purchaseToken } }),
            );
            expect({ status: hold.status, body: hold.status === 201 ? undefined : hold.body }).toEqual({ status: 201, body: undefined });
            return { orderId: hold.body.orderId as string, userId, expiresAt: Date.parse(hold.body.expiresAt as string) };
          },
        );
        return { saleId, holds };
      };
      const readLog = () => readEventLog({ dataDir, eventStoreUrl: database.url });
      // The late holds fall due once the leader is dead. The early ones, placed after them on a short hold time, the
      // leader expires before it dies; the standby takes the sagas over from their checkpoint, which the late holds
      // (pending) keep behind the early ones: it reads their placing again, and must not expire them a second time.
      const { saleId, holds } = await placeHolds('late', HOLD_MS, HOLDS);
      const early = await placeHolds('early', 1000, 0);
      await eventually('the leader expired the early holds', async () => {
        const expiries = saleLog(await readLog(), early.saleId).expiries;
        return early.holds.every((h) => expiries.has(h.orderId));
      });
      const firstDeadline = Math.min(...holds.map((h) => h.expiresAt));
      await eventually('just before the first hold falls due', () => Date.now() >= firstDeadline - KILL_BEFORE_MS, { timeoutMs: WAIT_MS });
      const killedAt = Date.now();
      expect(await leader.killWorker()).toBe('SIGKILL');
      await eventually('the standby took the sagas over', () => tookSagas(standby.workerLogs), { timeoutMs: WAIT_MS, intervalMs: 20 });
      const tookOverAt = Date.now();
      // The scenario happened as meant: the leader died before the first deadline, and holds fell due while no worker led.
      expect(killedAt).toBeLessThan(firstDeadline);
      expect(holds.filter((h) => h.expiresAt > killedAt && h.expiresAt < tookOverAt).length).toBeGreaterThan(0);

      let log: LoggedEvent[] = [];
      const expired = () => saleLog(log, saleId).expiries;
      await eventually(
        'every hold expired',
        async () => {
          log = await readLog();
          return holds.every((h) => expired().has(h.orderId));
        },
        { timeoutMs: WAIT_MS, intervalMs: 200, seen: () => ({ expired: expired().size, standby: standby.workerLogs.slice(-2000) }) },
      );
      // A sentinel hold placed now: once it has expired, a later sweep has run (sweeps never overlap), so a second
      // expiry of any of the above would be in the log by then. (Not the sagas' checkpoint at the head, as
      // worker-process.e2e-spec.ts waits for: the unpaid holds of the sales above, on the default hold time, keep it behind.)
      const sentinel = await placeSentinelHold(direct, admin, 'cluster-sentinel');
      await eventually(
        'the sentinel hold expired',
        async () => (await direct.request('GET', `/orders/${sentinel}`, { token: admin })).body.status === 'expired',
        { timeoutMs: WAIT_MS, intervalMs: 100 },
      );
      log = await readLog();

      // Exactly one expiry per hold, the early ones (expired by the leader before it died) included; never before its
      // deadline, never later than the sweep and the lease (+ slack).
      const expiries = expired();
      const earlyExpiries = saleLog(log, early.saleId).expiries;
      expect([...earlyExpiries.values()].flat().filter((e) => e.recordedAt >= killedAt)).toEqual([]);
      expect(early.holds.filter((h) => earlyExpiries.get(h.orderId)?.length !== 1).map((h) => ({ ...h, expiries: earlyExpiries.get(h.orderId)?.length ?? 0 }))).toEqual([]);
      expect(holds.filter((h) => expiries.get(h.orderId)?.length !== 1).map((h) => ({ ...h, expiries: expiries.get(h.orderId)?.length ?? 0 }))).toEqual([]);
      const timing = holds.map((h) => {
        const expiry = expiries.get(h.orderId)![0]!;
        return { ...h, expiredAt: expiry.data.expiredAt as number, lateMs: expiry.recordedAt - h.expiresAt };
      });
      const boundMs = SWEEP_MS + LEASE_MS + SLACK_MS;
      expect(timing.filter((t) => t.expiredAt < t.expiresAt)).toEqual([]);
      expect(timing.filter((t) => t.lateMs > boundMs)).toEqual([]);
      console.log(
        `scenario 3: leading worker SIGKILLed ${String(firstDeadline - killedAt)} ms before the first deadline, standby led ${String(tookOverAt - killedAt)} ms later; ` +
          `expiries recorded ${String(Math.min(...timing.map((t) => t.lateMs)))}..${String(Math.max(...timing.map((t) => t.lateMs)))} ms after their deadline (bound ${String(boundMs)} ms)`,
      );

      // The stock is back, by the store's totals; and the audit finds no invariant broken.
      const view = await direct.request('GET', `/admin/sales/${saleId}`, { token: admin });
      expect(view.body.totals).toMatchObject({ reserved: HOLDS, released: HOLDS, available: HOLDS });
      const audit = await auditVerify({ dataDir, eventStoreUrl: database.url });
      expect({ exitCode: audit.exitCode, broken: audit.exitCode === 0 ? undefined : audit.report }).toEqual({ exitCode: 0, broken: undefined });
    });
  });
});
