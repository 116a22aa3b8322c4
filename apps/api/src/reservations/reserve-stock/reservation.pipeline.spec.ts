import { RetryLater } from '@flash/domain';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import {
    Degradation,
  DEFAULT_HOT_SPOT_SETTINGS,
  FrequencyLimits,
  HotSpots,
  InMemoryBlacklist,
  InMemoryDegradationState,
  OverloadShedder,
  RecentIdempotencyKeys,
  RejectionRecorder,
} from '@flash/access';
import { SoldOut } from '@flash/domain';
import { PurchaseRequest } from '../../admission/access-request';
import { PurchaseChecks } from '../../admission/purchase-checks';
import { JwtService } from '../../auth/jwt.service';
import { ApiError } from '../../http/error-catalogue';
import { RawJsonBody } from '../../http/json-body';
import { securityHeaders } from '../../http/security-headers';
import { ServerDrain } from '../../http/server-drain';
import { HotPathCounters } from '../../metrics/hot-path-counters';
import { ReservationPipeline } from './reservation.pipeline';
import { ReserveStockCommand } from './reserve-stock.command';
import { CommandBus } from '@nestjs/cqrs';
import { LogIndexer, SaleCatalogue } from '@flash/command-side';

const ORDER = { orderId: 'o1', saleId: 'sale-1', userId: 'buyer-1', quantity: 1, status: 'reserved', shard: 0 };
const BODY = new RawJsonBody('{"quantity":1,"purchaseToken":"t"}');

/**
 * The pipeline with the real access checks, shedder, known keys, hot spots and counters; stand-ins for the catalog, JWT
 * and handler. `throttleHotSpots`: the frequency limits on (too generous to refuse) and hot-spot throttling on.
 */
const setUp = ({ throttleHotSpots = false } = {}) => {
  let now = 1_000_000;
  const catalog = {
    ready: true,
    sale: (id: string) => (id === 'sale-1' ? { definition: { saleId: 'sale-1' } } : undefined),
    // LogIndexer's, against this stand-in's `ready`.
    refuseUnlessCaughtUp(): void {
      if (!this.ready) throw new RetryLater('NOT_READY', 'catching up', 1000);
    },
  };
  const jwt = {
    verify: (authorization: string | undefined) => {
      // An identity provider's token seen for the first time is verified asynchronously (JwtService).
      if (authorization === 'Bearer provider-buyer-2') return Promise.resolve({ userId: 'buyer-2', roles: [] });
      if (authorization !== 'Bearer buyer-1') throw new ApiError('UNAUTHENTICATED', 'a Bearer token is required');
      return { userId: 'buyer-1', roles: [] };
    },
  };
  const commands: ReserveStockCommand[] = [];
  let outcome: () => Promise<unknown> = async () => ({ created: true, view: ORDER });
  const handler = { execute: async (cmd: ReserveStockCommand) => (commands.push(cmd), outcome()) };
  const shedder = new OverloadShedder({ maxInFlight: 1 }, { now: () => 0, sampler: { p99Ms: () => 0, reset: () => undefined, close: () => undefined } });
  const knownKeys = new RecentIdempotencyKeys();
  const generous = { points: 1_000_000, durationS: 1 };
  const hotSpots = new HotSpots(
    { ...DEFAULT_HOT_SPOT_SETTINGS, throttle: { enabled: throttleHotSpots, factor: 10, floorPerS: 5 } },
    { now: () => now, isSale: (id) => catalog.sale(id) !== undefined },
  );
  const checks = new PurchaseChecks(
    new InMemoryBlacklist(() => 0),
    new FrequencyLimits({ enabled: throttleHotSpots, perUser: generous, perIp: generous, admission: generous }),
    shedder,
    new Degradation(new InMemoryDegradationState(), {}, { random: () => 0 }),
    knownKeys,
    hotSpots,
  );
  const refusals: Record<string, Record<string, number>> = {};
  const rejections: RejectionRecorder = {
    record: (saleId, code) => {
      const bySale = (refusals[saleId] ??= {});
      bySale[code] = (bySale[code] ?? 0) + 1;
    },
  };
  const drain = { closing: false } as ServerDrain;
  const counters = new HotPathCounters();
  // At debug level, the lines it writes kept in memory (pino writes to a plain object synchronously).
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const pipeline = new ReservationPipeline(
    catalog as unknown as SaleCatalogue,
    catalog as unknown as LogIndexer,
    jwt as unknown as JwtService,
    checks,
    handler as unknown as CommandBus,
    shedder,
    rejections,
    knownKeys,
    drain,
    hotSpots,
    counters,
    logger,
    { now: () => now },
  );
  const requestTo = (saleId = 'sale-1', headers: Record<string, string> = {}): PurchaseRequest => ({
    id: 'request-1',
    ip: '10.0.0.7',
    url: `/sales/${saleId}/reservations`,
    headers: { authorization: 'Bearer buyer-1', 'idempotency-key': 'key-00000001', ...headers },
    params: { id: saleId },
  });
  const answered = async (code: number): Promise<number> =>
    (await counters.registry.getMetricsAsJSON())
      .find((m) => m.name === 'http_requests_total')
      ?.values.find((v) => v.labels.route === '/sales/:id/reservations' && v.labels.code === String(code))?.value ?? 0;
  return {
    pipeline,
    catalog,
    commands,
    lines,
    shedder,
    knownKeys,
    refusals,
    drain,
    requestTo,
    answered,
    hotSpots,
    advance: (ms: number) => (now += ms),
    willAnswer: (next: () => Promise<unknown>) => {
      outcome = next;
    },
  };
};

const codeOf = (payload: string): string => (JSON.parse(payload) as { error: { code: string } }).error.code;

/** A response that closes when told to, as a way in's response does once answered or aborted. */
const closable = () => new EventEmitter();

describe('ReservationPipeline', () => {
  it("stamps the request's arrival before the checks, so a slow server's own waits never count as the buyer's solve time", async () => {
    const t = setUp();
    const arrival = t.advance(0);
    // Authentication took a while (an identity provider's token seen for the first time): the server's time, not the buyer's.
    const verify = (t.pipeline as unknown as { jwt: { verify: () => unknown } }).jwt;
    const original = verify.verify;
    verify.verify = () => (t.advance(5000), { userId: 'buyer-1', roles: [] });
    try {
      expect((await t.pipeline.answer(t.requestTo(), BODY)).status).toBe(201);
    } finally {
      verify.verify = original;
    }
    expect(t.commands.map((c) => c.receivedAt)).toEqual([arrival]);
  });

  it('answers a reservation 201 with the security headers, remembers its key and counts the request', async () => {
    const t = setUp();
    const { status, headers, payload } = await t.pipeline.answer(t.requestTo(), BODY);

    expect(status).toBe(201);
    expect(JSON.parse(payload)).toEqual(ORDER);
    expect(headers).toEqual({
      ...securityHeaders(),
      'x-request-id': 'request-1',
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(payload)),
    });
    expect(t.commands.map((c) => [c.saleId, c.userId, c.idempotencyKey, c.quantity, c.purchaseToken])).toEqual([['sale-1', 'buyer-1', 'key-00000001', 1, 't']]);
    expect(t.knownKeys.has('sale-1', 'buyer-1', 'key-00000001')).toBe(true);
    expect(t.refusals).toEqual({});
    expect(await t.answered(201)).toBe(1);
  });

  it("hands the request's id to the command (its events' correlationId) and returns that id, refused or not", async () => {
    const t = setUp();
    const [placed, refused] = await Promise.all([
      t.pipeline.answer({ ...t.requestTo(), id: 'request-a' }, BODY),
      t.pipeline.answer({ ...t.requestTo(), id: 'request-b', headers: { authorization: 'Bearer someone-else' } }, BODY),
    ]);
    expect(t.commands.map((c) => c.requestId)).toEqual(['request-a']);
    expect([placed.headers['x-request-id'], refused.headers['x-request-id']]).toEqual(['request-a', 'request-b']);
    // Each answer's debug line names its own request, though both were served at once.
    const answered = t.lines.filter((l) => l.msg === 'reservation answered').map((l) => [l.requestId, l.status, l.outcome]);
    expect(answered).toHaveLength(2);
    expect(answered).toEqual(expect.arrayContaining([['request-a', 201, 'o1'], ['request-b', 401, 'UNAUTHENTICATED']]));
  });

  it('answers a replay 200 with the same body', async () => {
    const t = setUp();
    t.willAnswer(async () => ({ created: false, view: ORDER }));
    const { status, payload } = await t.pipeline.answer(t.requestTo(), BODY);
    expect({ status, body: JSON.parse(payload) }).toEqual({ status: 200, body: ORDER });
  });

  it('answers a refusal in the envelope and counts it by sale and by the code of the error thrown', async () => {
    const t = setUp();
    t.willAnswer(async () => {
      throw new SoldOut('sale-1');
    });
    const first = await t.pipeline.answer(t.requestTo(), BODY);
    await t.pipeline.answer(t.requestTo(), BODY);

    expect(first.status).toBe(409);
    expect(JSON.parse(first.payload)).toEqual({ error: { code: 'SOLD_OUT', message: expect.any(String), retryable: false } });
    expect(first.headers).toMatchObject({ ...securityHeaders(), 'content-length': String(Buffer.byteLength(first.payload)) });
    expect(first.headers['retry-after']).toBeUndefined();
    expect(t.refusals).toEqual({ 'sale-1': { SOLD_OUT: 2 } });
    expect(t.knownKeys.has('sale-1', 'buyer-1', 'key-00000001')).toBe(false);
    expect(await t.answered(409)).toBe(2);
  });

  it("checks in API.md's order: readiness, authentication, Idempotency-Key, body, and only then the handler", async () => {
    const t = setUp();
    const codes: string[] = [];
    const attempt = async (request: PurchaseRequest, body: unknown) => codes.push(codeOf((await t.pipeline.answer(request, body)).payload));
    t.catalog.ready = false;
    await attempt(t.requestTo('sale-1', { authorization: '', 'idempotency-key': '' }), 'not json');
    t.catalog.ready = true;
    await attempt(t.requestTo('sale-1', { authorization: '', 'idempotency-key': '' }), 'not json');
    await attempt(t.requestTo('sale-1', { 'idempotency-key': 'short' }), 'not json');
    await attempt(t.requestTo(), 'not json');
    await attempt(t.requestTo(), new RawJsonBody('{"quantity":1,"purchaseToken":"t","extra":1}'));

    expect(codes).toEqual(['NOT_READY', 'UNAUTHENTICATED', 'VALIDATION_FAILED', 'VALIDATION_FAILED', 'VALIDATION_FAILED']);
    expect(t.commands).toEqual([]);
    expect(t.refusals).toEqual({ 'sale-1': { NOT_READY: 1, UNAUTHENTICATED: 1, VALIDATION_FAILED: 3 } });
  });

  it('counts a request in flight from begin to its close: over the bound it is shed with OVERLOADED and Retry-After', async () => {
    const t = setUp();
    const held = [closable(), closable()];
    for (const response of held) t.pipeline.begin(response);
    expect(t.shedder.inFlight).toBe(2);

    const shed = await t.pipeline.answer(t.requestTo(), BODY);
    expect([shed.status, codeOf(shed.payload), shed.headers['retry-after']]).toEqual([503, 'OVERLOADED', String(Math.ceil(t.shedder.settings.retryAfterMs / 1000))]);
    expect(t.refusals).toEqual({ 'sale-1': { OVERLOADED: 1 } });

    for (const response of held) response.emit('close');
    expect(t.shedder.inFlight).toBe(0);
    expect((await t.pipeline.answer(t.requestTo(), BODY)).status).toBe(201);
  });

  it('tells the client to hang up once the server drains', async () => {
    const t = setUp();
    t.drain.closing = true;
    expect((await t.pipeline.answer(t.requestTo(), BODY)).headers.connection).toBe('close');
  });

  it("answers and counts once what the transport refused before the steps (Fastify's body limit)", async () => {
    const t = setUp();
    const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    const { status, headers, payload } = t.pipeline.refuse(t.requestTo(), tooLarge);

    expect([status, codeOf(payload)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(headers).toMatchObject(securityHeaders());
    expect(t.refusals).toEqual({ 'sale-1': { PAYLOAD_TOO_LARGE: 1 } });
    expect(await t.answered(413)).toBe(1);
  });

  it('answers a bug as INTERNAL in the envelope', async () => {
    const t = setUp();
    t.willAnswer(async () => {
      throw new TypeError('boom');
    });
    const { status, payload } = await t.pipeline.answer({ ...t.requestTo(), id: 'request-bug' }, BODY);
    expect([status, JSON.parse(payload)]).toEqual([500, { error: { code: 'INTERNAL', message: 'internal error', retryable: true } }]);
    // Logged as a bug, under the request that met it.
    expect(t.lines.filter((l) => l.msg === 'unhandled error').map((l) => [l.level, l.requestId, (l.err as { message?: string }).message])).toEqual([
      [50, 'request-bug', 'boom'],
    ]);
  });

  it("awaits the principal when the token's verification is asynchronous (an identity provider's new token)", async () => {
    const t = setUp();
    const { status } = await t.pipeline.answer(t.requestTo('sale-1', { authorization: 'Bearer provider-buyer-2' }), BODY);
    expect(status).toBe(201);
    expect(t.commands.map((c) => c.userId)).toEqual(['buyer-2']);
  });

  it('counts no refusal for a sale that does not exist (sale ids come from clients)', async () => {
    const t = setUp();
    t.willAnswer(async () => {
      throw new ApiError('NOT_FOUND', 'no such sale');
    });
    expect((await t.pipeline.answer(t.requestTo('no-such-sale'), BODY)).status).toBe(404);
    expect(t.refusals).toEqual({});
    expect(await t.answered(404)).toBe(1);
  });

  it("counts the HTTP edge's refusals of reservations by their code (a query string too), and nothing of other requests", async () => {
    const t = setUp();
    t.pipeline.noteEdgeRefusal({ method: 'POST', url: '/sales/sale-1/reservations' }, 'REQUEST_TIMEOUT');
    t.pipeline.noteEdgeRefusal({ method: 'POST', url: '/sales/sale-1/reservations?via=fastify' }, 'NOT_READY');
    t.pipeline.noteEdgeRefusal({ method: 'GET', url: '/sales/sale-1/reservations' }, 'RATE_LIMITED');
    t.pipeline.noteEdgeRefusal({ method: 'POST', url: '/sales/sale-1/access' }, 'RATE_LIMITED');

    expect(t.refusals).toEqual({ 'sale-1': { REQUEST_TIMEOUT: 1, NOT_READY: 1 } });
    expect([await t.answered(408), await t.answered(503), await t.answered(429)]).toEqual([1, 1, 0]);
  });

  it('sights every request it answers, refused or not, and refuses a hot spot RATE_LIMITED with Retry-After, counted as a refusal', async () => {
    const t = setUp({ throttleHotSpots: true });
    t.willAnswer(async () => {
      throw new SoldOut('sale-1');
    });
    for (let i = 0; i < 40; i++) await t.pipeline.answer(t.requestTo(), BODY);
    await t.pipeline.answer(t.requestTo('no-such-sale', { authorization: 'Bearer nobody' }), BODY);
    for (let u = 0; u < 20; u++) t.hotSpots.record('sale-1', `crowd-${u}`, `10.1.0.${u}`);
    t.advance(1000);

    expect(t.hotSpots.ranking()).toEqual({
      sales: [{ key: 'sale-1', rate: 60 }],
      users: expect.arrayContaining([{ key: 'buyer-1', rate: 40 }]),
      ips: expect.arrayContaining([{ key: '10.0.0.7', rate: 41 }]),
    });
    expect(t.hotSpots.ranking().users[0]).toEqual({ key: 'buyer-1', rate: 40 });
    const throttled = await t.pipeline.answer(t.requestTo(), BODY);
    expect([throttled.status, codeOf(throttled.payload), throttled.headers['retry-after']]).toEqual([429, 'RATE_LIMITED', '10']);
    expect(t.refusals).toEqual({ 'sale-1': { SOLD_OUT: 40, RATE_LIMITED: 1 } });
    expect(await t.answered(429)).toBe(1);
  });
});
