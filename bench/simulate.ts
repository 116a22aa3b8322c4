import { createHmac } from 'node:crypto';
import { parseArgs } from 'node:util';
import { encodePowAnswer, solvePowNumber } from '@flash/access';
import { Pool } from 'undici';
import { MODES } from './settings';
import { BenchAuth, buyerId } from './support/buyers';
import { BenchContext, startEngine } from './support/context';
import { loud, progress } from './support/log';
import { detectPlacement, pinSelf, sleep, snapshotDist } from './support/processes';

const USAGE = `usage: npm run simulate [-- --buyers N] [--stock N] [--bots SHARE] [--pay SHARE] [--spike-ms MS] [--room] [--admit-per-s N] [--bot-addresses N]

  A flash sale as a crowd sees it: N virtual buyers (default 100,000) arrive in a spike at startsAt; a share are bots
  (no purchase token, another buyer's token, or a proof-of-work answer sent instantly); humans follow the sale page's
  retry policy (Retry-After on 429/503, same Idempotency-Key); some winners pay, the rest let their hold expire.
  Ends with the report: admitted, reserved, paid, expired, rejections by code, bots admitted (must be 0), oversold
  (must be 0), p99 latency. Exit 1 if a bot was admitted or the sale oversold.
  --room puts the sale behind its waiting room (admitting --admit-per-s a second, default 200): everyone, bots
  included, takes a ticket and polls the line as the sale page does; the report adds the wait percentiles (as the
  buyers saw them, and as the analytics summary reports them), and an instant-pow bot admitted counts as a bot admitted.
  Addresses: each human comes from an address of its own, the bots from a farm of --bot-addresses (default 16), all
  through X-Forwarded-For from a trusted proxy (TRUST_PROXY=loopback), as behind the nginx edge. With --room the
  access limits are on (a waiting room's tickets per address are one of them: WAITING_ROOM_TICKETS_PER_IP=4, a
  household behind one router); without, they are off as before, and the crowd's addresses change nothing.`;

interface Options {
  readonly buyers: number;
  readonly stock: number;
  readonly botShare: number;
  readonly payShare: number;
  readonly spikeMs: number;
  readonly room: boolean;
  readonly admitPerSecond: number;
  readonly botAddresses: number;
}

const parseOptions = (): Options => {
  const { values } = parseArgs({
    options: {
      buyers: { type: 'string', default: '100000' },
      stock: { type: 'string', default: '1000' },
      bots: { type: 'string', default: '0.2' },
      pay: { type: 'string', default: '0.6' },
      'spike-ms': { type: 'string', default: '3000' },
      room: { type: 'boolean', default: false },
      'admit-per-s': { type: 'string', default: '200' },
      'bot-addresses': { type: 'string', default: '16' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const number = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be in ${String(min)}..${String(max)}, got "${text}"`);
    return n;
  };
  return {
    buyers: Math.floor(number('buyers', values.buyers, 10, 10_000_000)),
    stock: Math.floor(number('stock', values.stock, 1, 1_000_000)),
    botShare: number('bots', values.bots, 0, 1),
    payShare: number('pay', values.pay, 0, 1),
    spikeMs: Math.floor(number('spike-ms', values['spike-ms'], 0, 600_000)),
    room: values.room,
    admitPerSecond: Math.floor(number('admit-per-s', values['admit-per-s'], 1, 1_000_000)),
    botAddresses: Math.floor(number('bot-addresses', values['bot-addresses'], 1, 65_536)),
  };
};

/** Holds end during the run, so "expired" is part of the report. */
const HOLD_MS = 5000;
const MIN_SOLVE_MS = 150;
const MAX_TRIES = 6;
/** Tickets one address may take per sale with --room: a household, or a small office, behind one router. */
const ROOM_TICKETS_PER_ADDRESS = 4;

/** Buyer i's own address (10.0.0.0/8: up to 16 million distinct). */
const humanAddress = (i: number): string => `10.${String((i >> 16) & 255)}.${String((i >> 8) & 255)}.${String(i & 255)}`;
/** The farm's addresses (TEST-NET-3 and on): bot i comes from one of `count`. */
const farmAddress = (i: number, count: number): string => {
  const n = i % count;
  return `203.0.${String(113 + (n >> 8))}.${String(n & 255)}`;
};

/**
 * Bots that must never get through: no purchase token, another buyer's token, another buyer's proof-of-work answer.
 * `instant-pow` solves its own challenge and answers at once: refused while the server sees it arrive faster than
 * POW_MIN_SOLVE_MS, but a queue in front of the server can make it look slow enough, so it is reported on its own.
 */
type BotKind = 'no-token' | 'borrowed-token' | 'borrowed-pow' | 'instant-pow';

interface Tally {
  admitted: number;
  reserved: number;
  paid: number;
  humansGaveUp: number;
  /** With --room: humans told SOLD_OUT while still in line (they did not give up: nothing was left). */
  soldOutInLine: number;
  botsAdmitted: number;
  instantPowAdmitted: number;
  /** Every bot class, admitted or not (0 each is the goal). */
  readonly botsAdmittedByKind: Record<BotKind, number>;
  done: number;
  readonly rejections: Record<string, number>;
  readonly botRejections: Record<string, number>;
  readonly latenciesMs: number[];
  /** With --room: from the ticket to the admission, per buyer admitted. */
  readonly waitsMs: number[];
}

interface Answer {
  readonly status: number;
  readonly body: any;
  readonly retryAfterMs: number;
}

const main = async (): Promise<void> => {
  const options = parseOptions();
  const placement = detectPlacement();
  if (placement.taskset) pinSelf(placement);
  else loud(placement.note);
  const auth = new BenchAuth();
  const ctx: BenchContext = { mode: MODES.quick, placement, dist: snapshotDist(), auth, profiles: [], worker: 'embedded' };
  const engine = await startEngine(ctx, 'simulate-engine', {
    SWEEP_INTERVAL_MS: '200',
    POW_DIFFICULTY: '300',
    POW_MIN_SOLVE_MS: String(MIN_SOLVE_MS),
    // The crowd's addresses come in X-Forwarded-For, as from the nginx edge on this host.
    TRUST_PROXY: 'loopback',
    // Without the room, as before: no limits of any kind, the bots stopped by tokens and challenges alone. With it, the
    // limits a sale runs with, the room's tickets per address among them.
    ACCESS_LIMITS: options.room ? 'on' : 'off',
    WAITING_ROOM_TICKETS_PER_IP: String(ROOM_TICKETS_PER_ADDRESS),
  });
  const pool = new Pool(engine.baseUrl, { connections: 256, pipelining: 1 });
  // A bot's purchase goes out on its own connections: a real bot is not queued behind the crowd's browsers, which is
  // what this one process playing everyone would otherwise do to it (its "instant" answer would reach the server
  // seconds late, looking like a person's).
  const botPool = new Pool(engine.baseUrl, { connections: 32, pipelining: 1 });
  const tally: Tally = { admitted: 0, reserved: 0, paid: 0, humansGaveUp: 0, soldOutInLine: 0, botsAdmitted: 0, instantPowAdmitted: 0, botsAdmittedByKind: { 'no-token': 0, 'borrowed-token': 0, 'borrowed-pow': 0, 'instant-pow': 0 }, done: 0, rejections: {}, botRejections: {}, latenciesMs: [], waitsMs: [] };

  const call = async (method: 'GET' | 'POST', route: string, headers: Record<string, string>, body?: unknown, raw?: string, via: Pool = pool): Promise<Answer> => {
    const text = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const res = await via.request({ method, path: route, headers: { ...headers, ...(text === undefined ? {} : { 'content-type': 'application/json' }) }, ...(text === undefined ? {} : { body: text }) });
    const answer = await res.body.text();
    const retryAfter = Number(res.headers['retry-after'] ?? 0);
    return { status: res.statusCode, body: answer ? JSON.parse(answer) : undefined, retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : 0 };
  };

  try {
    const startsAt = Date.now() + 4000;
    const sale = await call('POST', '/admin/sales', { authorization: auth.admin() }, {
      sku: 'SIM',
      name: 'simulated flash sale',
      price: 1999,
      totalStock: options.stock,
      shards: 8,
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(startsAt + 3_600_000).toISOString(),
      perUserLimit: 1,
      inventoryMode: 'reserve',
      holdTtlMs: HOLD_MS,
      challenge: 'pow',
      ...(options.room ? { waitingRoom: { enabled: true, admitPerSecond: options.admitPerSecond, tokenTtlMs: 30_000 } } : {}),
    });
    if (sale.status !== 201) throw new Error(`creating the sale answered ${String(sale.status)}: ${JSON.stringify(sale.body)}`);
    const saleId = sale.body.id as string;
    progress(`sale ${saleId}: ${options.stock.toLocaleString('en-US')} units, starts in 4 s; ${options.buyers.toLocaleString('en-US')} buyers, ${String(Math.round(options.botShare * 100))}% bots`);
    auth.presign(options.buyers);
    const tokensSeen: string[] = [];
    const answersSeen: string[] = [];

    const count = (into: Record<string, number>, code: string) => (into[code] = (into[code] ?? 0) + 1);
    const codeOf = (a: Answer): string => (a.body?.error?.code as string | undefined) ?? `HTTP_${String(a.status)}`;

    type Granted = { purchaseToken: string; challenge: any; issuedAt: number };

    /** With --room: polls the ticket as the sale page does (about twice before the estimate, 1–5 s apart) until let in. */
    /** A buyer's own headers: their bearer token and their address. */
    type Who = Readonly<Record<string, string>>;

    const waitInLine = async (who: Who, ticket: string, estimatedWaitMs: number): Promise<Granted | 'sold-out' | undefined> => {
      const joinedAt = Date.now();
      let estimate = estimatedWaitMs;
      for (;;) {
        await sleep(Math.min(5000, Math.max(1000, estimate / 2)) * (0.75 + Math.random() * 0.5));
        const answer = await call('GET', `/sales/${saleId}/queue/${encodeURIComponent(ticket)}`, who);
        if (answer.status === 200 && answer.body.purchaseToken !== undefined) {
          tally.waitsMs.push(Date.now() - joinedAt);
          return { purchaseToken: answer.body.purchaseToken as string, challenge: answer.body.challenge, issuedAt: Date.now() };
        }
        if (answer.status === 409) return 'sold-out';
        if (answer.status !== 200 && !answer.body?.error?.retryable) return undefined;
        if (answer.status === 200) estimate = answer.body.estimatedWaitMs as number;
      }
    };

    /** GET /access until the sale has started and the buyer is let in; undefined when it never is. */
    const access = async (who: Who): Promise<Granted | 'sold-out' | undefined> => {
      for (let tries = 0; tries < MAX_TRIES * 3; tries++) {
        const answer = await call('GET', `/sales/${saleId}/access`, who);
        if (answer.status === 200) return { purchaseToken: answer.body.purchaseToken as string, challenge: answer.body.challenge, issuedAt: Date.now() };
        if (answer.status === 202) return waitInLine(who, answer.body.queueTicket as string, answer.body.estimatedWaitMs as number);
        if (!answer.body?.error?.retryable) return undefined;
        await sleep(Math.min(answer.body.error.retryAfterMs ?? answer.retryAfterMs ?? 500, 2000) + Math.random() * 200);
      }
      return undefined;
    };

    const human = async (i: number): Promise<void> => {
      const who = { authorization: auth.bearer(i), 'x-forwarded-for': humanAddress(i) };
      const granted = await access(who);
      if (granted === 'sold-out') {
        tally.soldOutInLine += 1;
        return;
      }
      if (!granted) {
        tally.humansGaveUp += 1;
        return;
      }
      tally.admitted += 1;
      if (tokensSeen.length < 1000) tokensSeen.push(granted.purchaseToken);
      const number = solvePowNumber(granted.challenge);
      const wait = granted.issuedAt + MIN_SOLVE_MS + 20 - Date.now();
      if (wait > 0) await sleep(wait);
      const body = { quantity: 1, purchaseToken: granted.purchaseToken, challengeAnswer: encodePowAnswer({ ...granted.challenge, number }) };
      if (answersSeen.length < 1000) answersSeen.push(body.challengeAnswer);
      const key = `sim-${buyerId(i)}-1`;
      for (let tries = 1; tries <= MAX_TRIES; tries++) {
        const sent = Date.now();
        const answer = await call('POST', `/sales/${saleId}/reservations`, { ...who, 'idempotency-key': key }, body);
        tally.latenciesMs.push(Date.now() - sent);
        if (answer.status === 201 || answer.status === 200) {
          tally.reserved += 1;
          if (Math.random() < options.payShare) await pay(answer.body.orderId as string);
          return;
        }
        count(tally.rejections, codeOf(answer));
        if (!answer.body?.error?.retryable || tries === MAX_TRIES) return;
        await sleep(Math.min(answer.retryAfterMs || 500, 3000) * (0.5 + Math.random()));
      }
    };

    const pay = async (orderId: string): Promise<void> => {
      const raw = JSON.stringify({ paymentId: `pay-${orderId}`, orderId, amount: 1999, status: 'succeeded' });
      const signature = createHmac('sha256', auth.webhookSecret).update(raw).digest('hex');
      const answer = await call('POST', '/payments/webhook', { 'x-signature': signature }, undefined, raw);
      if (answer.status === 200) tally.paid += 1;
    };

    const bot = async (i: number, kind: BotKind): Promise<void> => {
      const who = { authorization: auth.bearer(i), 'x-forwarded-for': farmAddress(i, options.botAddresses) };
      const key = `sim-bot-${buyerId(i)}`;
      let body: Record<string, unknown>;
      if (kind === 'instant-pow') {
        const granted = await access(who);
        if (!granted || granted === 'sold-out') return;
        // Solved, but sent at once: faster than a browser can.
        body = { quantity: 1, purchaseToken: granted.purchaseToken, challengeAnswer: encodePowAnswer({ ...granted.challenge, number: solvePowNumber(granted.challenge) }) };
      } else if (kind === 'borrowed-pow') {
        const granted = await access(who);
        if (!granted || granted === 'sold-out') return;
        await sleep(MIN_SOLVE_MS + 50);
        body = { quantity: 1, purchaseToken: granted.purchaseToken, challengeAnswer: answersSeen[i % Math.max(1, answersSeen.length)] ?? 'bm90LXNvbHZlZA==' };
      } else if (kind === 'borrowed-token') {
        await sleep(200);
        body = { quantity: 1, purchaseToken: tokensSeen[i % Math.max(1, tokensSeen.length)] ?? 'no-token-seen-yet' };
      } else {
        body = { quantity: 1, purchaseToken: 'x' };
      }
      const answer = await call('POST', `/sales/${saleId}/reservations`, { ...who, 'idempotency-key': key }, body, undefined, botPool);
      if (answer.status === 201 || answer.status === 200) {
        tally.botsAdmittedByKind[kind] += 1;
        if (kind === 'instant-pow') tally.instantPowAdmitted += 1;
        else tally.botsAdmitted += 1;
      } else count(tally.botRejections, `${kind}:${codeOf(answer)}`);
    };

    const kinds: BotKind[] = ['no-token', 'borrowed-token', 'borrowed-pow', 'instant-pow'];
    const started = Date.now();
    const ticker = setInterval(() => {
      const share = tally.done / options.buyers;
      const bar = '#'.repeat(Math.round(share * 24)).padEnd(24, '·');
      progress(`simulate [${bar}] ${String(Math.floor(share * 100)).padStart(3)}%  ${tally.done.toLocaleString('en-US')}/${options.buyers.toLocaleString('en-US')} buyers  reserved ${tally.reserved.toLocaleString('en-US')}  paid ${tally.paid.toLocaleString('en-US')}`);
    }, 1000);
    const runs: Promise<void>[] = [];
    for (let i = 0; i < options.buyers; i++) {
      // Arrivals spread over the spike, most of them right at the start (the page's countdown ends for everyone).
      const arrival = startsAt - 500 + Math.floor(options.spikeMs * Math.random() ** 3);
      const isBot = Math.random() < options.botShare;
      runs.push(
        sleep(Math.max(0, arrival - Date.now()))
          .then(() => (isBot ? bot(i, kinds[i % kinds.length] ?? 'no-token') : human(i)))
          .catch((error: unknown) => {
            count(tally.rejections, `CLIENT_${error instanceof Error ? error.name : 'ERROR'}`);
          })
          .finally(() => {
            tally.done += 1;
          }),
      );
    }
    await Promise.all(runs);
    clearInterval(ticker);
    progress(`all buyers done in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting ${String(HOLD_MS / 1000)} s for unpaid holds to expire`);
    await sleep(HOLD_MS + 1500);

    const view = await call('GET', `/admin/sales/${saleId}`, { authorization: auth.admin() });
    // The server's own account of the waits (ticket to admission), from the analytics summary.
    const summary = options.room ? await call('GET', `/analytics/sales/${saleId}/summary`, { authorization: auth.admin() }) : undefined;
    const totals = view.body.totals as { allocated: number; reserved: number; paid: number; released: number; available: number };
    const liveHolds = totals.reserved - totals.paid - totals.released;
    const oversold = Math.max(0, totals.paid + liveHolds - options.stock);
    const percentiles = (samples: readonly number[]) => {
      const sorted = [...samples].sort((a, b) => a - b);
      const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
      return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) ?? 0 };
    };
    // Behind the room an admitted instant-pow bot is no longer excused by a queue in front of the server.
    const botsAdmitted = tally.botsAdmitted + (options.room ? tally.instantPowAdmitted : 0);
    const report = {
      buyers: options.buyers,
      stock: options.stock,
      admitted: tally.admitted,
      reserved: tally.reserved,
      paid: tally.paid,
      expired: totals.released,
      liveHolds,
      available: totals.available,
      rejections: tally.rejections,
      humansGaveUp: tally.humansGaveUp,
      botRejections: tally.botRejections,
      botsAdmitted: tally.botsAdmitted,
      instantPowAdmitted: tally.instantPowAdmitted,
      botsAdmittedByClass: tally.botsAdmittedByKind,
      oversold,
      reservationLatencyMs: percentiles(tally.latenciesMs),
      ...(options.room
        ? { waitingRoom: { admitPerSecond: options.admitPerSecond, admitted: tally.waitsMs.length, soldOutInLine: tally.soldOutInLine, waitMs: percentiles(tally.waitsMs), serverWaitMs: summary?.body?.waitingRoom ?? null } }
        : {}),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    if (botsAdmitted > 0 || oversold > 0) process.exitCode = 1;
  } finally {
    await pool.close();
    await botPool.close();
    await engine.stop();
  }
};

main().catch((error: unknown) => {
  process.stderr.write(`simulate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
