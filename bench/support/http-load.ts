import net from 'node:net';
import { BenchRequest, RequestFactory } from './buyers';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

export interface RawLoadOptions {
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  readonly seconds: number;
  readonly next: RequestFactory;
  /** Issue at most this many requests; the window ends when they are all answered (or at `seconds`). */
  readonly amount?: number;
  readonly onResponse?: (status: number) => void;
  /**
   * At the end of the window, send nothing more but wait (at most this many ms) for the requests in flight and count
   * their answers apart (`drained`), instead of dropping the sockets: every request sent then has a known answer,
   * which is what a count of the store's writes against the acknowledged ones needs.
   */
  readonly drainMs?: number;
}

/** What `drainMs` adds: every request sent, and the answers that came after the window. */
export interface Drained {
  readonly sent: number;
  readonly statuses: Record<string, number>;
  /** Sent and never answered (a dropped connection, or still in flight when the drain gave up). */
  readonly unanswered: number;
}

export interface RawLoadResult {
  readonly seconds: number;
  readonly statuses: Record<string, number>;
  readonly responses: number;
  readonly errors: number;
  /** Request latencies in ms of the responses counted. */
  readonly latencies: Float64Array;
  /** The first body answered with each status other than 2xx (up to 300 characters): what the refusals said. */
  readonly samples: Record<string, string>;
  readonly drained?: Drained;
}

const render = (host: string, r: BenchRequest): string => {
  let head = `${r.method} ${r.path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const name in r.headers) head += `${name}: ${r.headers[name] ?? ''}\r\n`;
  if (r.body === undefined) return head + '\r\n';
  return `${head}content-length: ${Buffer.byteLength(r.body)}\r\n\r\n${r.body}`;
};

/**
 * A lean closed-loop HTTP/1.1 load generator: `connections` keep-alive sockets, each sending its next request as soon
 * as the previous answer is complete (no pipelining). Requests are rendered straight to text and responses are
 * framed by Content-Length only (both servers under test always send it). On this VM it costs the load core about
 * half of what autocannon's per-request `setupRequest` path does, so the bare-Fastify baseline is not capped by
 * the client.
 */
export const rawClosedLoop = (o: RawLoadOptions): Promise<RawLoadResult> =>
  new Promise((resolve) => {
    const hostHeader = `${o.host}:${o.port}`;
    const statuses: Record<string, number> = {};
    let latencies = new Float64Array(1 << 16);
    let responses = 0;
    let errors = 0;
    let issued = 0;
    let open = 0;
    let stopping = false;
    const samples: Record<string, string> = {};
    const late: Record<string, number> = {};
    let lateAnswers = 0;
    let drainTimer: NodeJS.Timeout | undefined;
    const started = performance.now();
    const deadline = started + o.seconds * 1000;
    let finished = false;

    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      for (const s of sockets) s.destroy();
      const seconds = Math.min(performance.now(), deadline) - started;
      const drained = o.drainMs === undefined ? {} : { drained: { sent: issued, statuses: late, unanswered: issued - responses - lateAnswers } };
      resolve({ seconds: seconds / 1000, statuses, responses, errors, latencies: latencies.subarray(0, responses), samples, ...drained });
    };

    const record = (status: number, latencyMs: number): void => {
      if (performance.now() > deadline) {
        late[status] = (late[status] ?? 0) + 1;
        lateAnswers++;
        return;
      }
      if (responses === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[responses++] = latencyMs;
      statuses[status] = (statuses[status] ?? 0) + 1;
      o.onResponse?.(status);
    };

    const sockets = new Set<net.Socket>();
    const connect = (): void => {
      const socket = net.connect({ host: o.host, port: o.port, noDelay: true });
      sockets.add(socket);
      open++;
      let pending: Buffer | undefined;
      let sentAt = 0;
      let busy = false;
      const sendNext = (): void => {
        if (stopping || performance.now() >= deadline || (o.amount !== undefined && issued >= o.amount)) {
          busy = false;
          socket.end();
          return;
        }
        issued++;
        busy = true;
        sentAt = performance.now();
        socket.write(render(hostHeader, o.next()));
      };
      socket.on('connect', sendNext);
      socket.on('data', (chunk: Buffer) => {
        pending = pending ? Buffer.concat([pending, chunk]) : chunk;
        const headerEnd = pending.indexOf(HEADER_END);
        if (headerEnd < 0) return;
        const head = pending.toString('latin1', 0, headerEnd);
        const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
        const total = headerEnd + 4 + length;
        if (pending.length < total) return;
        const status = Number(head.slice(9, 12));
        if ((status < 200 || status > 299) && samples[status] === undefined) samples[status] = pending.toString('utf8', headerEnd + 4, Math.min(total, headerEnd + 4 + 300));
        record(status, performance.now() - sentAt);
        pending = pending.length > total ? pending.subarray(total) : undefined;
        sendNext();
      });
      socket.on('error', () => {
        if (busy && !stopping) errors++;
      });
      socket.on('close', () => {
        sockets.delete(socket);
        open--;
        const more = !stopping && performance.now() < deadline && (o.amount === undefined || issued < o.amount);
        if (more && busy) connect(); // the server dropped a busy connection: keep the concurrency
        else if (open === 0) finish();
      });
    };
    const timer = setTimeout(() => {
      stopping = true;
      if (o.drainMs === undefined || open === 0) finish();
      else drainTimer = setTimeout(finish, o.drainMs);
    }, o.seconds * 1000);
    for (let i = 0; i < o.connections; i++) connect();
  });
