import { Pool } from 'undici';
import { encodePowAnswer, solvePow, solvePowNumber } from '../../libs/access/test/solve-pow';
import { ApiClient, ApiResponse, ERROR_ENVELOPE, openSale } from './support/client';
import { ServerProcess } from './support/server';

/**
 * The access layer of the funnel, through HTTP: every request it turns away gets its documented code and moves
 * nothing in the store. Each block starts its own server with the settings it needs.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let keySeq = 0;
const newKey = (): string => `access-e2e-${process.pid}-${String(++keySeq).padStart(6, '0')}`;

const expectError = (res: ApiResponse, status: number, code: string): void => {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.body).toEqual(ERROR_ENVELOPE);
};

const expectRetryable = (res: ApiResponse, status: 429 | 503, code: string): void => {
  expectError(res, status, code);
  expect(res.body.error.retryable).toBe(true);
  expect(res.body.error.retryAfterMs).toBeGreaterThan(0);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
};

const codesOf = (responses: ApiResponse[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const r of responses) {
    const key = r.status < 300 ? String(r.status) : `${r.status} ${r.body?.error?.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
};

/** One server per block, with the env it needs; the client signs tokens with the server's secret. */
const serverFor = (env: Record<string, string>) => {
  const server = new ServerProcess({ env });
  const ctx = {
    server,
    client: undefined as unknown as ApiClient,
    admin: '',
    head: async (): Promise<number> => (await ctx.client.request('GET', '/health/ready')).body.details.store.head as number,
    createSale: async (overrides: Record<string, unknown> = {}): Promise<string> => {
      const res = await ctx.client.request('POST', '/admin/sales', { token: ctx.admin, body: openSale(overrides) });
      expect(res.status).toBe(201);
      return res.body.id as string;
    },
    access: (saleId: string, userId: string) => ctx.client.request('GET', `/sales/${saleId}/access`, { token: ctx.client.token(userId) }),
    reserve: (saleId: string, userId: string, body: Record<string, unknown>, key = newKey()) =>
      ctx.client.request('POST', `/sales/${saleId}/reservations`, { token: ctx.client.token(userId), headers: { 'idempotency-key': key }, body }),
    setLevel: async (level: number) => {
      const res = await ctx.client.request('PUT', '/admin/degradation', { token: ctx.admin, body: { level } });
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { level } });
    },
  };
  beforeAll(async () => {
    await server.start();
    ctx.client = new ApiClient(server.baseUrl, server.jwtSecret, 64);
    ctx.admin = ctx.client.token('admin-1', ['admin']);
  });
  afterAll(async () => {
    await ctx.client.destroy();
    await server.stop();
    server.cleanup();
  });
  return ctx;
};

describe('purchase tokens, sale timing and the blacklist', () => {
  const t = serverFor({ ACCESS_LIMITS: 'off' });
  let saleId: string;
  let otherSaleId: string;

  beforeAll(async () => {
    saleId = await t.createSale({ totalStock: 50, shards: 2, perUserLimit: 1 });
    otherSaleId = await t.createSale({ totalStock: 50, shards: 2, perUserLimit: 1 });
  });

  it('refuses a purchase without a valid purchase token, and admits none', async () => {
    const before = await t.head();
    const own = (await t.access(saleId, 'tok-buyer')).body.purchaseToken as string;
    const someoneElses = (await t.access(saleId, 'tok-other')).body.purchaseToken as string;
    const otherSales = (await t.access(otherSaleId, 'tok-buyer')).body.purchaseToken as string;
    const tampered = own.slice(0, -1) + (own.endsWith('A') ? 'B' : 'A');

    expectError(await t.reserve(saleId, 'tok-buyer', { quantity: 1 }), 400, 'VALIDATION_FAILED');
    for (const purchaseToken of ['not-a-token', someoneElses, otherSales, tampered]) {
      expectError(await t.reserve(saleId, 'tok-buyer', { quantity: 1, purchaseToken }), 403, 'INVALID_PURCHASE_TOKEN');
    }
    expect(await t.head()).toBe(before);
  });

  it('refuses access and purchases before the start with SALE_NOT_STARTED and when to come back', async () => {
    const before = await t.head();
    const future = await t.createSale({ startsAt: new Date(Date.now() + 3_600_000).toISOString(), endsAt: new Date(Date.now() + 7_200_000).toISOString() });
    const head = await t.head();
    const access = await t.access(future, 'early-bird');
    expectError(access, 403, 'SALE_NOT_STARTED');
    expect(access.body.error.retryable).toBe(true);
    expect(access.body.error.retryAfterMs).toBeGreaterThan(3_500_000);
    const token = (await t.access(saleId, 'early-bird')).body.purchaseToken as string;
    expectError(await t.reserve(future, 'early-bird', { quantity: 1, purchaseToken: token }), 403, 'SALE_NOT_STARTED');
    expect(await t.head()).toBe(head);
    expect(head).toBeGreaterThan(before); // only the sale's own creation
  });

  it('blocks a blacklisted user from access and purchase until the entry is removed', async () => {
    const before = await t.head();
    const token = (await t.access(saleId, 'blocked-buyer')).body.purchaseToken as string;
    const added = await t.client.request('POST', '/admin/blacklist', { token: t.admin, body: { userId: 'blocked-buyer', reason: 'scripted buying' } });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ entry: 'user:blocked-buyer', userId: 'blocked-buyer', reason: 'scripted buying', createdAt: expect.any(String) });
    expect(Number.isNaN(Date.parse(added.body.createdAt))).toBe(false);

    expectError(await t.access(saleId, 'blocked-buyer'), 403, 'BLOCKED');
    expectError(await t.reserve(saleId, 'blocked-buyer', { quantity: 1, purchaseToken: token }), 403, 'BLOCKED');
    expect((await t.access(saleId, 'innocent-buyer')).status).toBe(200);
    const listed = await t.client.request('GET', '/admin/blacklist', { token: t.admin });
    expect(listed.body.entries).toContainEqual(added.body);
    expect(await t.head()).toBe(before);

    expect((await t.client.request('DELETE', '/admin/blacklist/user:blocked-buyer', { token: t.admin })).status).toBe(204);
    expectError(await t.client.request('DELETE', '/admin/blacklist/user:blocked-buyer', { token: t.admin }), 404, 'NOT_FOUND');
    expect((await t.access(saleId, 'blocked-buyer')).status).toBe(200);
  });

  it('blocks a blacklisted address whoever signs in behind it, but not the admins, until removed', async () => {
    const before = await t.head();
    const token = (await t.access(saleId, 'behind-nat')).body.purchaseToken as string;
    const added = await t.client.request('POST', '/admin/blacklist', { token: t.admin, body: { ip: '127.0.0.1', reason: 'bot farm' } });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ entry: 'ip:127.0.0.1', ip: '127.0.0.1', reason: 'bot farm', createdAt: expect.any(String) });
    try {
      expectError(await t.access(saleId, 'behind-nat'), 403, 'BLOCKED');
      expectError(await t.access(saleId, 'another-behind-nat'), 403, 'BLOCKED');
      expectError(await t.reserve(saleId, 'behind-nat', { quantity: 1, purchaseToken: token }), 403, 'BLOCKED');
      expect((await t.client.request('GET', '/admin/blacklist', { token: t.admin })).status).toBe(200);
      expect(await t.head()).toBe(before);
    } finally {
      expect((await t.client.request('DELETE', `/admin/blacklist/${encodeURIComponent('ip:127.0.0.1')}`, { token: t.admin })).status).toBe(204);
    }
    expect((await t.access(saleId, 'behind-nat')).status).toBe(200);
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: a client cannot pass for another address', async () => {
    const added = await t.client.request('POST', '/admin/blacklist', { token: t.admin, body: { ip: '127.0.0.1', reason: 'bot farm' } });
    expect(added.status).toBe(201);
    try {
      const res = await t.client.request('GET', `/sales/${saleId}/access`, { token: t.client.token('claims-elsewhere'), headers: { 'x-forwarded-for': '198.51.100.9' } });
      expectError(res, 403, 'BLOCKED');
    } finally {
      expect((await t.client.request('DELETE', `/admin/blacklist/${encodeURIComponent('ip:127.0.0.1')}`, { token: t.admin })).status).toBe(204);
    }
  });

  it('keeps the blacklist to admins and validates its requests', async () => {
    const buyer = t.client.token('not-an-admin');
    expectError(await t.client.request('POST', '/admin/blacklist', { token: buyer, body: { userId: 'x', reason: 'r' } }), 403, 'FORBIDDEN');
    expectError(await t.client.request('DELETE', '/admin/blacklist/user:x', { token: buyer }), 403, 'FORBIDDEN');
    for (const body of [
      { userId: 'x', ip: '10.0.0.1', reason: 'both' },
      { reason: 'neither' },
      { ip: 'not-an-ip', reason: 'r' },
      { userId: 'has spaces', reason: 'r' },
      { userId: 'x' },
      { userId: 'x', reason: '' },
      { userId: 'x', reason: 'r', extra: true },
    ]) {
      expectError(await t.client.request('POST', '/admin/blacklist', { token: t.admin, body }), 400, 'VALIDATION_FAILED');
    }
    expectError(await t.client.request('DELETE', '/admin/blacklist/nonsense', { token: t.admin }), 400, 'VALIDATION_FAILED');
    expectError(await t.client.request('DELETE', '/admin/blacklist/user:nobody', { token: t.admin }), 404, 'NOT_FOUND');
  });

  it('with ACCESS_LIMITS=off, lets one user at one address ask as often as they like', async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, () => t.access(saleId, 'eager-buyer')));
    expect(codesOf(responses)).toEqual({ 200: 40 });
  });
});

describe('expired purchase tokens', () => {
  const t = serverFor({ ACCESS_LIMITS: 'off', PURCHASE_TOKEN_TTL_MS: '1000' });

  it('refuses a purchase with a token past its expiry', async () => {
    const saleId = await t.createSale({ totalStock: 10, shards: 1 });
    const before = await t.head();
    const access = await t.access(saleId, 'slow-buyer');
    expect(access.status).toBe(200);
    const expiresAt = Date.parse(access.body.expiresAt);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(1000);
    await sleep(Math.max(0, expiresAt - Date.now()) + 100);
    expectError(await t.reserve(saleId, 'slow-buyer', { quantity: 1, purchaseToken: access.body.purchaseToken }), 403, 'INVALID_PURCHASE_TOKEN');
    expect(await t.head()).toBe(before);
  });
});

describe('per-user and per-IP frequency limits', () => {
  const t = serverFor({ ACCESS_LIMITS: 'on', FREQ_PER_USER_PER_S: '3', FREQ_PER_IP_PER_S: '10', ADMISSION_PER_S: '1000' });
  let saleId: string;
  let otherAddress: Pool;

  /** GET /sales/:id/access from 127.0.0.2: another client address on the loopback. */
  const accessFromOtherAddress = async (userId: string): Promise<number> => {
    const res = await otherAddress.request({ method: 'GET', path: `/sales/${saleId}/access`, headers: { authorization: `Bearer ${t.client.token(userId)}` } });
    await res.body.text();
    return res.statusCode;
  };

  beforeAll(async () => {
    saleId = await t.createSale({ totalStock: 100, shards: 2, perUserLimit: 1 });
    otherAddress = new Pool(t.server.baseUrl, { connections: 4, localAddress: '127.0.0.2' });
  });
  afterAll(() => otherAddress.destroy());
  // Each test starts with fresh one-second windows.
  beforeEach(() => sleep(1100));

  it('refuses a user over their limit with RATE_LIMITED and admits none of their purchases', async () => {
    const before = await t.head();
    const responses = await Promise.all(Array.from({ length: 6 }, () => t.access(saleId, 'hasty-buyer')));
    expect(codesOf(responses)).toEqual({ 200: 3, '429 RATE_LIMITED': 3 });
    for (const r of responses.filter((x) => x.status === 429)) expectRetryable(r, 429, 'RATE_LIMITED');
    const token = responses.find((r) => r.status === 200)!.body.purchaseToken as string;
    expectRetryable(await t.reserve(saleId, 'hasty-buyer', { quantity: 1, purchaseToken: token }), 429, 'RATE_LIMITED');
    expect((await t.access(saleId, 'patient-buyer')).status).toBe(200);
    expect(await t.head()).toBe(before);
  });

  it('refuses an address over its limit, whoever signs in behind it, and not another address', async () => {
    const before = await t.head();
    const responses = await Promise.all(Array.from({ length: 14 }, (_, i) => t.access(saleId, `crowd-${i}`)));
    expect(codesOf(responses)).toEqual({ 200: 10, '429 RATE_LIMITED': 4 });
    const token = responses.find((r) => r.status === 200)!.body.purchaseToken as string;
    const userOfToken = `crowd-${responses.findIndex((r) => r.status === 200)}`;
    expectRetryable(await t.reserve(saleId, userOfToken, { quantity: 1, purchaseToken: token }), 429, 'RATE_LIMITED');
    expect(await accessFromOtherAddress('elsewhere-buyer')).toBe(200);
    expect(await t.head()).toBe(before);
  });

  it('admits the user again once the window has passed, when the refusal said to retry', async () => {
    const responses = await Promise.all(Array.from({ length: 4 }, () => t.access(saleId, 'returning-buyer')));
    expect(codesOf(responses)).toEqual({ 200: 3, '429 RATE_LIMITED': 1 });
    const retryAfterMs = responses.find((r) => r.status === 429)!.body.error.retryAfterMs as number;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(1000); // within the one-second window
    // Waits for the instant the server named (never a guess): a retry then is admitted.
    await sleep(retryAfterMs);
    expect((await t.access(saleId, 'returning-buyer')).status).toBe(200);
  });

  it('tightens the limits at degradation level 1 and restores them at level 0', async () => {
    await t.setLevel(1);
    try {
      const tightened = [];
      for (let i = 0; i < 3; i++) tightened.push(await t.access(saleId, 'tight-buyer'));
      expect(codesOf(tightened)).toEqual({ 200: 1, '429 RATE_LIMITED': 2 }); // 3 per second halved, rounded down
    } finally {
      await t.setLevel(0);
    }
    await sleep(1100);
    expect(codesOf(await Promise.all(Array.from({ length: 3 }, () => t.access(saleId, 'tight-buyer'))))).toEqual({ 200: 3 });
  });

  it('answers the replay of a known Idempotency-Key even over the limit (API.md), and refuses a new key', async () => {
    const token = (await t.access(saleId, 'replaying-buyer')).body.purchaseToken as string;
    const key = newKey();
    const first = await t.reserve(saleId, 'replaying-buyer', { quantity: 1, purchaseToken: token }, key);
    expect(first.status).toBe(201);
    const replays = [];
    for (let i = 0; i < 4; i++) replays.push(await t.reserve(saleId, 'replaying-buyer', { quantity: 1, purchaseToken: token }, key));
    for (const r of replays) expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: first.body });
    expectRetryable(await t.reserve(saleId, 'replaying-buyer', { quantity: 1, purchaseToken: token }), 429, 'RATE_LIMITED');
  });
});

describe('global admission rate per instance', () => {
  const t = serverFor({ ACCESS_LIMITS: 'on', FREQ_PER_USER_PER_S: '100', FREQ_PER_IP_PER_S: '1000', ADMISSION_PER_S: '5' });

  it('admits at most the admission rate into the funnel, whoever asks, and nothing more', async () => {
    const saleId = await t.createSale({ totalStock: 10, shards: 1 });
    await sleep(1100);
    const before = await t.head();
    const responses = await Promise.all(Array.from({ length: 9 }, (_, i) => t.access(saleId, `entrant-${i}`)));
    expect(codesOf(responses)).toEqual({ 200: 5, '429 RATE_LIMITED': 4 });
    for (const r of responses.filter((x) => x.status === 429)) expectRetryable(r, 429, 'RATE_LIMITED');
    expect(await t.head()).toBe(before);
  });
});

describe('overload shedding', () => {
  // Shedding stays on with ACCESS_LIMITS=off; the in-flight bound is tiny here so a small spike crosses it.
  const t = serverFor({ ACCESS_LIMITS: 'off', SHED_MAX_IN_FLIGHT: '4', SHED_EVENT_LOOP_DELAY_MS: '60000' });

  it('sheds purchases beyond the in-flight bound with OVERLOADED, reserves nothing for them, and keeps health and admin answering', async () => {
    const saleId = await t.createSale({ totalStock: 1000, shards: 2, perUserLimit: 1 });
    const users = Array.from({ length: 150 }, (_, i) => `spike-${i}`);
    const tokens = new Map<string, string>();
    for (const u of users) tokens.set(u, (await t.access(saleId, u)).body.purchaseToken as string); // one at a time: never shed

    const [responses, health, admin] = await Promise.all([
      Promise.all(users.map((u) => t.reserve(saleId, u, { quantity: 1, purchaseToken: tokens.get(u) }))),
      Promise.all(Array.from({ length: 5 }, () => t.client.request('GET', '/health/ready'))),
      Promise.all(Array.from({ length: 5 }, () => t.client.request('GET', `/admin/sales/${saleId}`, { token: t.admin }))),
    ]);
    const codes = codesOf(responses);
    const shed = codes['503 OVERLOADED'] ?? 0;
    expect(shed).toBeGreaterThan(0);
    expect(codes).toEqual({ 201: 150 - shed, '503 OVERLOADED': shed });
    for (const r of responses.filter((x) => x.status === 503)) expectRetryable(r, 503, 'OVERLOADED');
    expect(health.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(admin.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);

    const sale = await t.client.request('GET', `/admin/sales/${saleId}`, { token: t.admin });
    expect((sale.body.shards as { reserved: number }[]).reduce((sum, s) => sum + s.reserved, 0)).toBe(150 - shed);
    const shedUser = users.find((_, i) => responses[i]!.status === 503)!;
    expect((await t.reserve(saleId, shedUser, { quantity: 1, purchaseToken: tokens.get(shedUser) })).status).toBe(201);
  });
});

describe('degradation levels', () => {
  const t = serverFor({ ACCESS_LIMITS: 'off', DEGRADATION_DROP_SHARE: '0.5' });
  afterEach(() => t.setLevel(0));

  const tokensFor = async (saleId: string, users: string[]): Promise<Map<string, string>> => {
    const tokens = new Map<string, string>();
    await Promise.all(
      users.map(async (u) => {
        const res = await t.access(saleId, u);
        expect(res.status).toBe(200);
        tokens.set(u, res.body.purchaseToken as string);
      }),
    );
    return tokens;
  };

  it('level 2 drops about the configured share of purchases with DEGRADED; level 0 restores normal service', async () => {
    const saleId = await t.createSale({ totalStock: 1000, shards: 4, perUserLimit: 1 });
    const users = Array.from({ length: 200 }, (_, i) => `crowd-${i}`);
    const tokens = await tokensFor(saleId, users);

    await t.setLevel(2);
    expect((await t.client.request('GET', '/admin/degradation', { token: t.admin })).body).toEqual({ level: 2 });
    const responses = await Promise.all(users.map((u) => t.reserve(saleId, u, { quantity: 1, purchaseToken: tokens.get(u) })));
    const codes = codesOf(responses);
    const dropped = codes['503 DEGRADED'] ?? 0;
    expect(dropped).toBeGreaterThanOrEqual(60);
    expect(dropped).toBeLessThanOrEqual(140);
    expect(codes).toEqual({ 201: 200 - dropped, '503 DEGRADED': dropped });
    for (const r of responses.filter((x) => x.status === 503)) expectRetryable(r, 503, 'DEGRADED');

    // The dropped requests reserved nothing: the store holds exactly the 201s.
    const sale = await t.client.request('GET', `/admin/sales/${saleId}`, { token: t.admin });
    const reserved = (sale.body.shards as { reserved: number }[]).reduce((sum, s) => sum + s.reserved, 0);
    expect(reserved).toBe(200 - dropped);

    await t.setLevel(0);
    const droppedUsers = users.filter((_, i) => responses[i]!.status === 503);
    const retries = await Promise.all(droppedUsers.map((u) => t.reserve(saleId, u, { quantity: 1, purchaseToken: tokens.get(u) })));
    expect(codesOf(retries)).toEqual({ 201: dropped });
  });

  it('level 3 refuses new access with DEGRADED but lets a buyer with a purchase token proceed', async () => {
    const saleId = await t.createSale({ totalStock: 10, shards: 1, perUserLimit: 1 });
    const tokens = await tokensFor(saleId, ['admitted-buyer']);
    await t.setLevel(3);
    const before = await t.head();
    expectRetryable(await t.access(saleId, 'latecomer'), 503, 'DEGRADED');
    expectError(await t.reserve(saleId, 'latecomer', { quantity: 1, purchaseToken: 'no-token' }), 403, 'INVALID_PURCHASE_TOKEN');
    expect(await t.head()).toBe(before);
    expect((await t.reserve(saleId, 'admitted-buyer', { quantity: 1, purchaseToken: tokens.get('admitted-buyer') })).status).toBe(201);
    await t.setLevel(0);
    expect((await t.access(saleId, 'latecomer')).status).toBe(200);
  });

  it('keeps the level to admins and validates it', async () => {
    expectError(await t.client.request('PUT', '/admin/degradation', { token: t.client.token('buyer'), body: { level: 3 } }), 403, 'FORBIDDEN');
    for (const body of [{ level: 4 }, { level: -1 }, { level: '1' }, { level: 1.5 }, {}, { level: 1, extra: true }]) {
      expectError(await t.client.request('PUT', '/admin/degradation', { token: t.admin, body }), 400, 'VALIDATION_FAILED');
    }
    expect((await t.client.request('GET', '/admin/degradation', { token: t.admin })).body).toEqual({ level: 0 });
  });
});

describe('proof-of-work challenge', () => {
  const MIN_SOLVE_MS = 1500;
  const t = serverFor({ ACCESS_LIMITS: 'off', POW_DIFFICULTY: '2000', POW_MIN_SOLVE_MS: String(MIN_SOLVE_MS) });
  let powSale: string;

  beforeAll(async () => {
    powSale = await t.createSale({ totalStock: 10, shards: 1, perUserLimit: 1, challenge: 'pow' });
  });

  it('sends no challenge for a sale without one', async () => {
    const plain = await t.createSale({ totalStock: 10, shards: 1 });
    const access = await t.access(plain, 'plain-buyer');
    expect(access.status).toBe(200);
    expect(access.body.challenge).toBeUndefined();
  });

  it('sends the challenge with access, refuses a right answer sent too fast, and admits it after the minimum solve time', async () => {
    const issuedBefore = Date.now();
    const access = await t.access(powSale, 'human-buyer');
    expect(access.status).toBe(200);
    const challenge = access.body.challenge;
    expect(challenge).toEqual({
      type: 'pow',
      algorithm: 'SHA-256',
      salt: expect.any(String),
      difficulty: 2000,
      maxnumber: 2000,
      challenge: expect.stringMatching(/^[0-9a-f]{64}$/),
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
      minSolveMs: MIN_SOLVE_MS,
    });
    const body = { quantity: 1, purchaseToken: access.body.purchaseToken, challengeAnswer: solvePow(challenge) };

    const before = await t.head();
    expectError(await t.reserve(powSale, 'human-buyer', body), 403, 'CHALLENGE_FAILED');
    expect(await t.head()).toBe(before);

    await sleep(Math.max(0, issuedBefore + MIN_SOLVE_MS + 200 - Date.now()));
    expect((await t.reserve(powSale, 'human-buyer', body)).status).toBe(201);
  });

  it('refuses a wrong answer, a missing one, and one solved for another user', async () => {
    const [mine, theirs] = await Promise.all([t.access(powSale, 'guessing-buyer'), t.access(powSale, 'helpful-buyer')]);
    await sleep(MIN_SOLVE_MS + 200);
    const before = await t.head();
    const { challenge } = mine.body;
    const wrong = encodePowAnswer({ ...challenge, number: (solvePowNumber(challenge) + 1) % (challenge.difficulty + 1) });
    const purchaseToken = mine.body.purchaseToken as string;
    expectError(await t.reserve(powSale, 'guessing-buyer', { quantity: 1, purchaseToken, challengeAnswer: wrong }), 403, 'CHALLENGE_FAILED');
    expectError(await t.reserve(powSale, 'guessing-buyer', { quantity: 1, purchaseToken }), 403, 'CHALLENGE_FAILED');
    expectError(await t.reserve(powSale, 'guessing-buyer', { quantity: 1, purchaseToken, challengeAnswer: 'garbage' }), 403, 'CHALLENGE_FAILED');
    const borrowed = solvePow(theirs.body.challenge);
    expectError(await t.reserve(powSale, 'guessing-buyer', { quantity: 1, purchaseToken, challengeAnswer: borrowed }), 403, 'CHALLENGE_FAILED');
    expect(await t.head()).toBe(before);
  });
});

describe('behind a trusted proxy (TRUST_PROXY): every way in sees the client the proxy names', () => {
  // The test client plays the proxy: it connects from loopback and writes X-Forwarded-For as nginx would.
  const t = serverFor({ ACCESS_LIMITS: 'off', TRUST_PROXY: 'loopback', MAX_CONNECTIONS_PER_IP: '2' });
  const CLIENT = '203.0.113.7';
  let saleId: string;
  const via = (forwardedFor: string) => ({ 'x-forwarded-for': forwardedFor });

  beforeAll(async () => {
    saleId = await t.createSale({ totalStock: 50, shards: 2, perUserLimit: 1 });
    const added = await t.client.request('POST', '/admin/blacklist', { token: t.admin, body: { ip: CLIENT, reason: 'bot farm' } });
    expect(added.status).toBe(201);
  });

  it('blocks the forwarded client on the access route, the reservation fast path and its Fastify route alike', async () => {
    const token = (await t.access(saleId, 'elsewhere')).body.purchaseToken as string;
    const before = await t.head();
    const blocked = await t.client.request('GET', `/sales/${saleId}/access`, { token: t.client.token('proxied'), headers: via(CLIENT) });
    expectError(blocked, 403, 'BLOCKED');
    const reserve = (path: string) =>
      t.client.request('POST', path, { token: t.client.token('elsewhere'), headers: { ...via(CLIENT), 'idempotency-key': newKey() }, body: { quantity: 1, purchaseToken: token } });
    // The ordinary shape takes the fast path; a query string sends the same request through Fastify's route.
    expectError(await reserve(`/sales/${saleId}/reservations`), 403, 'BLOCKED');
    expectError(await reserve(`/sales/${saleId}/reservations?via=fastify`), 403, 'BLOCKED');
    expect(await t.head()).toBe(before);
  });

  it('believes only the entry the proxy appended, never one the client wrote to its left', async () => {
    // The client wrote "203.0.113.7" itself; the proxy appended the address it saw: that one is the client.
    expect((await t.client.request('GET', `/sales/${saleId}/access`, { token: t.client.token('forger'), headers: via(`${CLIENT}, 198.51.100.9`) })).status).toBe(200);
    // And a blacklisted client cannot hide behind an address it writes in front of its own.
    expectError(await t.client.request('GET', `/sales/${saleId}/access`, { token: t.client.token('hider'), headers: via(`198.51.100.9, ${CLIENT}`) }), 403, 'BLOCKED');
  });

  it("does not cap the proxy's connections at MAX_CONNECTIONS_PER_IP: they carry the whole crowd", async () => {
    const pool = new Pool(t.server.baseUrl, { connections: 8, pipelining: 1 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          const res = await pool.request({ method: 'GET', path: `/sales/${saleId}`, headers: via(`198.51.100.${i + 1}`) });
          await res.body.dump();
          return res.statusCode;
        }),
      );
      expect(answers.filter((status) => status !== 200)).toEqual([]);
    } finally {
      await pool.close();
    }
  });
});
