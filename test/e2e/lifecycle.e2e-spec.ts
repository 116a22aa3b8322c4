import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient, ERROR_ENVELOPE, openSale } from './support/client';
import { RawConnection, RawResponse, tryConnect } from './support/raw-http';
import { runUntilExit, ServerProcess } from './support/server';
import { freePort } from '../support/free-port';

const STOCK = 6;
/** Purchases in flight when SIGTERM lands: more than the stock, so some are answered 201 and some 409. */
const IN_FLIGHT = 10;
/** Hang guards on a shared 2-core machine, not speed claims. */
const WAIT_MS = 20_000;

/** Polls until `probe` says so, failing with `what` at the deadline. */
const waitUntil = async (what: string, probe: () => Promise<boolean> | boolean, timeoutMs = WAIT_MS): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

interface InFlight {
  readonly userId: string;
  /** How the server was made to take the request before SIGTERM: see below. */
  readonly kind: 'expect-continue' | 'pipelined';
  readonly connection: RawConnection;
  /** The bytes of the request not sent until the server is draining. */
  readonly rest: string;
}

describe('process lifecycle', () => {
  // The purchases are held half-sent on purpose while the drain begins: well within REQUEST_TIMEOUT_MS, even on a
  // loaded machine, so that no 408 cuts one (the cut itself is edge.chaos-spec.ts's).
  const server = new ServerProcess({ env: { LOG_LEVEL: 'info', REQUEST_TIMEOUT_MS: '60000' } });
  const connections: RawConnection[] = [];
  const connect = async (): Promise<RawConnection> => {
    const connection = new RawConnection(server.port);
    connections.push(connection);
    await connection.connected;
    return connection;
  };
  // A failed run leaves nothing behind: no half-sent request holding the drain open, no server.
  afterAll(async () => {
    for (const c of connections) c.destroy();
    await server.kill();
    server.cleanup();
  });

  it('on SIGTERM refuses new connections, answers every request in flight, exits 0, and keeps every 201 across a restart', async () => {
    await server.start();
    let client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
    const admin = client.token('admin-1', ['admin']);
    const created = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: STOCK, shards: 2, perUserLimit: 1 }) });
    expect(created.status).toBe(201);
    const saleId = created.body.id as string;
    const path = `/sales/${saleId}/reservations`;

    // Each purchase is started on its own connection and left unfinished, its body held back, once the server has
    // provably taken it: half ask `Expect: 100-continue` (the server's 100 says it has the request; Fastify's route
    // answers these), half come pipelined behind a GET on the same socket, written at once with all but the last
    // byte of the body (the GET's answer says the server has parsed past it; the reservation fast path takes these).
    const inFlight: InFlight[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) {
      const userId = `term-${i}`;
      const key = `term-key-${i}-xxxx`;
      const token = client.token(userId);
      const access = await client.request('GET', `/sales/${saleId}/access`, { token });
      expect(access.status).toBe(200);
      const body = JSON.stringify({ quantity: 1, purchaseToken: access.body.purchaseToken });
      const kind = i % 2 === 0 ? 'expect-continue' : 'pipelined';
      const head = [
        `POST ${path} HTTP/1.1`,
        `host: 127.0.0.1:${server.port}`,
        `authorization: Bearer ${token}`,
        'content-type: application/json',
        `content-length: ${Buffer.byteLength(body)}`,
        `idempotency-key: ${key}`,
        ...(kind === 'expect-continue' ? ['expect: 100-continue'] : []),
        '',
        '',
      ].join('\r\n');
      const connection = await connect();
      if (kind === 'expect-continue') {
        connection.write(head);
        await connection.waitFor(`${userId}: 100 Continue`, (rs) => rs.some((r) => r.status === 100), WAIT_MS);
        inFlight.push({ userId, kind, connection, rest: body });
      } else {
        connection.write(`GET /health/live HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n\r\n` + head + body.slice(0, -1));
        await connection.waitFor(`${userId}: the pipelined GET answered`, (rs) => rs.length >= 1, WAIT_MS);
        expect(connection.responses()[0]!.status).toBe(200);
        inFlight.push({ userId, kind, connection, rest: body.slice(-1) });
      }
    }
    // The pool's idle keep-alive sockets would only be closed under it by the drain.
    await client.destroy();

    // A request begun before SIGTERM whose headers end after it: not yet a request the server has taken, so it
    // is refused, in the envelope (its connection was open before the listener closed). Its first header line is
    // known to have arrived once this connection's earlier request is answered.
    const late = await connect();
    late.write(`GET /health/live HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n\r\nGET /sales/${saleId} HTTP/1.1\r\n`);
    await late.waitFor('the GET ahead of the late request answered', (rs) => rs.length >= 1, WAIT_MS);

    const exit = server.stop('SIGTERM');
    // Draining: the listening socket is closed, so a new connection is refused, while the process stays up for
    // the requests it has taken.
    await waitUntil('a new connection refused after SIGTERM', async () => (await tryConnect(server.port)) === 'refused');
    const states = inFlight.map((f) => ({ userId: f.userId, connection: f.connection.state }));
    expect(states).toEqual(inFlight.map((f) => ({ userId: f.userId, connection: 'open' })));

    late.write(`host: 127.0.0.1:${server.port}\r\n\r\n`);
    const refusal = (await late.waitFor('the late request answered', (rs) => rs.length >= 2, WAIT_MS))[1]!;
    expect({ status: refusal.status, body: refusal.body }).toEqual({ status: 503, body: ERROR_ENVELOPE });
    expect(refusal.body.error.retryable).toBe(true);
    expect(refusal.headers['retry-after']).toMatch(/^\d+$/);
    await late.waitClosed(WAIT_MS);
    expect(late.state).toBe('closed');

    // Now the rest of each purchase: the draining server answers every request it had taken.
    for (const f of inFlight) f.connection.write(f.rest);
    const answers: Array<{ userId: string; kind: string; answer: RawResponse | undefined; failure?: string; connection: string }> = [];
    for (const f of inFlight) {
      // Each answer comes after one response already received: the 100 Continue, or the pipelined GET's answer.
      let answer: RawResponse | undefined;
      let failure: string | undefined;
      try {
        answer = (await f.connection.waitFor(`${f.userId}: the purchase answered`, (rs) => rs.length > 1, WAIT_MS))[1];
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error); // asserted on below, with how the connection ended
      }
      await f.connection.waitClosed(WAIT_MS).catch(() => undefined); // an open connection is asserted on below
      answers.push({ userId: f.userId, kind: f.kind, answer, ...(failure === undefined ? {} : { failure }), connection: f.connection.state });
    }
    const code = await exit;
    if (code !== 0) console.error(server.logs);

    // Every request in flight got a real answer in the contract's shape, then the server hung up cleanly.
    const classified = answers.map((a) => ({ userId: a.userId, status: a.answer?.status ?? `no answer: ${a.failure}`, connection: a.connection }));
    expect(classified.filter((a) => a.status !== 201 && a.status !== 409)).toEqual([]);
    expect(classified.filter((a) => a.connection !== 'closed')).toEqual([]);
    expect(answers.filter((a) => a.answer!.headers.connection !== 'close').map((a) => a.userId)).toEqual([]);
    const acked = answers.filter((a) => a.answer?.status === 201);
    const refused = answers.filter((a) => a.answer?.status === 409);
    expect(acked).toHaveLength(STOCK);
    expect(refused).toHaveLength(IN_FLIGHT - STOCK);
    for (const a of acked) {
      expect(a.answer!.body).toMatchObject({ saleId, userId: a.userId, quantity: 1, status: 'reserved', orderId: expect.any(String) });
    }
    for (const r of refused) {
      expect(r.answer!.body).toEqual(ERROR_ENVELOPE);
      expect(r.answer!.body.error.code).toBe('SOLD_OUT');
    }
    // Both ways in were exercised: Fastify's route and the fast path each answered some 201s.
    expect(new Set(acked.map((a) => a.kind))).toEqual(new Set(['expect-continue', 'pipelined']));
    expect(code).toBe(0);

    // On the embedded store the clean stop kept the catalog's indexes (DATA_DIR/catalog.sqlite): the restart loads
    // them instead of folding the log from 0, and must find every order from there.
    const snapshotted = server.eventStoreUrl === undefined;
    if (snapshotted) expect(fs.existsSync(`${server.dataDir}/catalog.sqlite`)).toBe(true);

    // After a restart, every 201 is there, and nothing else took stock.
    await server.start();
    if (snapshotted) expect(server.logs).toContain('command-side indexes loaded from their snapshot');
    client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
    for (const a of acked) {
      const order = await client.request('GET', `/orders/${a.answer!.body.orderId}`, { token: admin });
      expect(order.status).toBe(200);
      expect(order.body).toMatchObject({ orderId: a.answer!.body.orderId, userId: a.userId, status: 'reserved' });
    }
    const view = await client.request('GET', `/admin/sales/${saleId}`, { token: admin });
    expect(view.body.totals).toMatchObject({ reserved: STOCK, available: 0 });
    await client.destroy();
    expect(await server.stop('SIGTERM')).toBe(0);
  });

  describe('secrets with DEMO=0', () => {
    const STRONG = 'k'.repeat(32);
    const refusal = async (env: Record<string, string>) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-secrets-'));
      try {
        return await runUntilExit({ DEMO: '0', PORT: String(await freePort()), DATA_DIR: dataDir, ...env });
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    };

    it('refuses to start with JWT_SECRET=a, naming JWT_SECRET, and exits non-zero', async () => {
      const { code, output } = await refusal({ JWT_SECRET: 'a', PAYMENT_WEBHOOK_SECRET: STRONG });
      expect(code).not.toBe(0);
      expect(output).toContain('JWT_SECRET must be at least 32 bytes when DEMO=0, got 1');
    });

    // Every other shape of a missing or short secret is in config.spec.ts.
    it.each([
      ['JWT_SECRET a single space', { JWT_SECRET: ' ', PAYMENT_WEBHOOK_SECRET: STRONG }, 'JWT_SECRET must be at least 32 bytes'],
      ['PAYMENT_WEBHOOK_SECRET unset', { JWT_SECRET: STRONG }, 'PAYMENT_WEBHOOK_SECRET must be set'],
    ])('refuses to start with %s, naming the variable', async (_label, env, message) => {
      const { code, output } = await refusal(env);
      expect(code).not.toBe(0);
      expect(output).toContain(message);
    });

    it('starts in demo mode without secrets (generated for the run)', async () => {
      const server = new ServerProcess({ env: { DEMO: '1', JWT_SECRET: '', PAYMENT_WEBHOOK_SECRET: '' } });
      await server.start();
      try {
        // The demo instructions are printed once the demo sale is scheduled, just after the server is ready.
        const deadline = Date.now() + 10_000;
        while (!server.logs.includes('JWT_SECRET (generated for this run)') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(server.logs).toContain('JWT_SECRET (generated for this run)');
      } finally {
        expect(await server.stop('SIGTERM')).toBe(0);
        server.cleanup();
      }
    });
  });
});
