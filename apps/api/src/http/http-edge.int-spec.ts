import type { AddressInfo } from 'node:net';
import type { RequestListener, Server } from 'node:http';
import { RawConnection } from '../../../../test/e2e/support/raw-http';
import { HttpEdge, HttpEdgeSettings } from './http-edge';

/** Hang guard, not a speed claim. */
const WAIT_MS = 10_000;

describe('HttpEdge', () => {
  const open: Array<{ server: Server; connections: RawConnection[] }> = [];
  afterEach(async () => {
    for (const { server, connections } of open.splice(0)) {
      for (const c of connections) c.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** An edge in front of `listener` on a free port, with 1 s deadlines; `connect` opens raw connections to it. */
  const start = async (listener: RequestListener, settings: Partial<HttpEdgeSettings> = {}) => {
    const refused: Array<{ url: string; code: string }> = [];
    const answered: string[] = [];
    const edge = new HttpEdge(
      { requestTimeoutMs: 1000, keepAliveTimeoutMs: 1000, maxConnectionsPerIp: 0, ...settings },
      { refused: (req, code) => refused.push({ url: req.url ?? '', code }), answered: (code) => answered.push(code) },
    );
    const server = edge.createServer(listener);
    server.on('clientError', edge.answerClientError);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const entry = { server, connections: [] as RawConnection[] };
    open.push(entry);
    const connect = async (): Promise<RawConnection> => {
      const c = new RawConnection((server.address() as AddressInfo).port);
      entry.connections.push(c);
      await c.connected;
      return c;
    };
    return { connect, refused, answered };
  };

  const ok: RequestListener = (_req, res) => res.end('{}');

  it('closes a kept-alive connection idle for KEEP_ALIVE_TIMEOUT_MS, writing nothing more', async () => {
    const { connect, answered } = await start(ok);
    const c = await connect();
    c.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await c.waitClosed(WAIT_MS);
    expect(c.responses().map((r) => r.status)).toEqual([200]);
    expect(answered).toEqual([]);
  });

  it('cuts a body that stops arriving with 408 and reports the request as refused', async () => {
    const { connect, refused, answered } = await start((req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    const c = await connect();
    c.write('POST /slow HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{');
    await c.waitClosed(WAIT_MS);
    expect(c.responses().map((r) => [r.status, r.body?.error?.code])).toEqual([[408, 'REQUEST_TIMEOUT']]);
    expect({ refused, answered }).toEqual({ refused: [{ url: '/slow', code: 'REQUEST_TIMEOUT' }], answered: ['REQUEST_TIMEOUT'] });
  });

  it('writes no 408 after an answer already given to a request whose body is still arriving', async () => {
    const { connect, answered } = await start(ok);
    const c = await connect();
    c.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n{');
    await c.waitClosed(WAIT_MS);
    expect(c.responses().map((r) => r.status)).toEqual([200]);
    expect(answered).toEqual([]);
  });

  it('writes no 408 in place of an answer still being prepared for an earlier pipelined request', async () => {
    const pending: Array<() => void> = [];
    const { connect } = await start((_req, res) => pending.push(() => res.end('{}')));
    const c = await connect();
    c.write('GET /first HTTP/1.1\r\nhost: a\r\n\r\nGET /sec');
    await c.waitClosed(WAIT_MS);
    expect(c.receivedText).toBe('');
    expect(pending).toHaveLength(1);
  });

  it('answers what the parser refuses in the envelope, without counting it as a refused request', async () => {
    const { connect, refused, answered } = await start(ok);
    const c = await connect();
    c.write('GET /a b HTTP/1.1\r\nhost: a\r\n\r\n');
    await c.waitClosed(WAIT_MS);
    const [answer] = c.responses();
    expect({ status: answer?.status, code: answer?.body?.error?.code, csp: answer?.headers['content-security-policy'] }).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
      csp: "default-src 'none'; frame-ancestors 'none'",
    });
    expect({ refused, answered }).toEqual({ refused: [], answered: ['VALIDATION_FAILED'] });
  });

  it('refuses requests on connections beyond MAX_CONNECTIONS_PER_IP, and counts an address down as its connections close', async () => {
    const { connect, refused } = await start(ok, { maxConnectionsPerIp: 2, keepAliveTimeoutMs: 60_000 });
    const held = [await connect(), await connect()];
    for (const c of held) c.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    for (const c of held) await c.waitFor('answered', (rs) => rs.length === 1, WAIT_MS);
    const third = await connect();
    third.write('GET /third HTTP/1.1\r\nhost: a\r\n\r\n');
    await third.waitClosed(WAIT_MS);
    expect(third.responses().map((r) => [r.status, r.body?.error?.code, r.headers['retry-after']])).toEqual([[429, 'RATE_LIMITED', '1']]);
    expect(refused).toEqual([{ url: '/third', code: 'RATE_LIMITED' }]);

    held[0]!.destroy();
    await held[0]!.closed;
    // The server sees the close a moment after the client: a fourth connection is served once it has.
    const deadline = Date.now() + WAIT_MS;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      const next = await connect();
      next.write('GET /fourth HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
      status = (await next.waitFor('answered', (rs) => rs.length === 1, WAIT_MS))[0]!.status;
    }
    expect(status).toBe(200);
  });
  it('does not cap a trusted proxy: its connections carry many clients (TRUST_PROXY)', async () => {
    const { connect, refused } = await start(ok, { maxConnectionsPerIp: 2, keepAliveTimeoutMs: 60_000, exemptFromConnectionCap: (address) => address.endsWith('127.0.0.1') });
    const held = [await connect(), await connect(), await connect(), await connect(), await connect()];
    for (const c of held) c.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    for (const c of held) expect((await c.waitFor('answered', (rs) => rs.length === 1, WAIT_MS))[0]!.status).toBe(200);
    expect(refused).toEqual([]);
  });

  it('drops a connection over the cap that sends nothing, and one far over it at once, so an address cannot hoard sockets', async () => {
    const { connect } = await start(ok, { maxConnectionsPerIp: 2, keepAliveTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const within = [await connect(), await connect()];
    const silentOverCap = [await connect(), await connect()]; // 3rd and 4th: over the cap, at most twice it
    const farOver = await connect(); // 5th: more than twice the cap
    await farOver.waitClosed(WAIT_MS);
    expect(farOver.responses()).toEqual([]);
    for (const c of silentOverCap) await c.waitClosed(WAIT_MS); // closed long before REQUEST_TIMEOUT_MS (60 s)
    expect(silentOverCap.map((c) => c.state)).toEqual(['closed', 'closed']);
    expect(within.map((c) => c.state)).toEqual(['open', 'open']);
  });
});
