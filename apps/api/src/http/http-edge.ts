import http, { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { normaliseIp } from '@flash/access';
import { ApiError, ApiErrorCode } from './error-catalogue';
import { Envelope, toEnvelope } from './error.filter';
import { writeEnvelope, writeEnvelopeToSocket } from './raw-answer';

export interface HttpEdgeSettings {
  /** REQUEST_TIMEOUT_MS: a request's headers and body arrive within this, or it is answered 408 and its connection closed. */
  readonly requestTimeoutMs: number;
  /** KEEP_ALIVE_TIMEOUT_MS: a keep-alive connection idle this long after an answer is closed. */
  readonly keepAliveTimeoutMs: number;
  /** MAX_CONNECTIONS_PER_IP: connections one client address may hold open at once; 0 for no cap. */
  readonly maxConnectionsPerIp: number;
  /** A peer whose connections are not capped: a trusted proxy (TRUST_PROXY) carries many clients on its own. */
  readonly exemptFromConnectionCap?: (address: string) => boolean;
}

export interface HttpEdgeHooks {
  /** A request the edge answered with an error before routing (drain, connection cap, timeout), by code: counted by its route. */
  readonly refused?: (req: IncomingMessage, code: ApiErrorCode) => void;
  /** Every error the edge answers, by code (metrics). */
  readonly answered?: (code: string) => void;
}

/**
 * How often Node looks for requests past their deadline (its default is 30 s): a cut lands within this much of
 * REQUEST_TIMEOUT_MS. The check walks only the connections with a request under way.
 */
export const CONNECTIONS_CHECK_INTERVAL_MS = 250;

/** A connection over the cap is told when to come back: by then one of its others has usually finished. */
const CONNECTION_CAP_RETRY_AFTER_MS = 1000;

/**
 * Whether an answer is already on its way on the connection, so that nothing else may be written to it: the answer
 * to the request whose body is still arriving has begun, or the last complete request's answer has not finished.
 */
const answerUnderWay = (last: ServerResponse | undefined): boolean =>
  last !== undefined && (last.req.complete ? !last.writableEnded : last.headersSent);

/**
 * What happens to a connection before Fastify routes its requests, set for a sale, where a slow or greedy client must
 * not hold what the crowd needs:
 * - a request's headers and body arrive within REQUEST_TIMEOUT_MS (Node's `headersTimeout` and `requestTimeout`,
 *   checked every CONNECTIONS_CHECK_INTERVAL_MS), or it gets `408 REQUEST_TIMEOUT` and the connection is closed —
 *   whichever way in reads its body (Fastify's route or the reservation fast path), since Node's parser keeps the time;
 * - an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS;
 * - a client address holds at most MAX_CONNECTIONS_PER_IP connections: a request on one beyond that gets
 *   `429 RATE_LIMITED` with Retry-After, and that connection is closed;
 * - what Node's parser refuses (a malformed request, headers over its 16 KB) is answered in the envelope, with the
 *   security headers, in words of our own — never the request's bytes.
 */
/** How long a connection over MAX_CONNECTIONS_PER_IP may stay open without sending its request. */
const OVER_CAP_IDLE_MS = 1000;

export class HttpEdge {
  /** The response of the last request seen on each connection: tells whether an answer may still be written on it. */
  private readonly lastAnswer = new WeakMap<Socket, ServerResponse>();
  private readonly overCap = new WeakSet<Socket>();
  private readonly openByAddress = new Map<string, number>();
  private readonly timedOut: Envelope;
  private readonly tooManyConnections: Envelope;

  constructor(
    private readonly settings: HttpEdgeSettings,
    private readonly hooks: HttpEdgeHooks = {},
  ) {
    this.timedOut = toEnvelope(new ApiError('REQUEST_TIMEOUT', `the request's headers and body did not arrive within ${settings.requestTimeoutMs} ms`));
    this.tooManyConnections = toEnvelope(
      new ApiError('RATE_LIMITED', `more than ${settings.maxConnectionsPerIp} connections from this address; send requests on those already open`, {
        retryAfterMs: CONNECTION_CAP_RETRY_AFTER_MS,
      }),
    );
  }

  /** The HTTP server Fastify runs on; `listener` sees every request the edge lets through. */
  createServer(listener: RequestListener): Server {
    const { requestTimeoutMs, keepAliveTimeoutMs, maxConnectionsPerIp } = this.settings;
    const server = http.createServer(
      { requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS },
      (req, res) => {
        this.lastAnswer.set(req.socket, res);
        if (this.overCap.has(req.socket)) this.refuse(req, res, this.tooManyConnections);
        else listener(req, res);
      },
    );
    server.keepAliveTimeout = keepAliveTimeoutMs;
    if (maxConnectionsPerIp > 0) server.on('connection', (socket: Socket) => this.count(socket, maxConnectionsPerIp));
    return server;
  }

  /** Answers a request with an error before routing and closes its connection once the answer is written. */
  refuse(req: IncomingMessage, res: ServerResponse, envelope: Envelope): void {
    writeEnvelope(res, envelope, true);
    this.hooks.answered?.(envelope.body.error.code);
    this.hooks.refused?.(req, envelope.body.error.code);
  }

  /**
   * Node's `clientError`: its parser refused the bytes, or a request ran past REQUEST_TIMEOUT_MS. Answered in the
   * envelope when an answer may still be written (none under way, and the client sent something), then the
   * connection is destroyed, as Node does; transport errors (a reset, a broken pipe) just end it.
   */
  readonly answerClientError = (error: Error & { code?: string }, socket: Socket): void => {
    if (socket.destroyed) return;
    const envelope = this.envelopeOf(error.code);
    const last = this.lastAnswer.get(socket);
    if (envelope !== undefined && socket.writable && !answerUnderWay(last) && (last !== undefined || socket.bytesRead > 0)) {
      writeEnvelopeToSocket(socket, envelope);
      this.hooks.answered?.(envelope.body.error.code);
      // A body that stopped arriving belongs to a request that was routed: it is refused like any other.
      if (last !== undefined && !last.req.complete) this.hooks.refused?.(last.req, envelope.body.error.code);
    }
    socket.destroy(error);
  };

  private envelopeOf(code: string | undefined): Envelope | undefined {
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return this.timedOut;
    if (code === 'HPE_HEADER_OVERFLOW') return toEnvelope(new ApiError('PAYLOAD_TOO_LARGE', 'the request line and headers are too large'));
    if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return toEnvelope(new ApiError('PAYLOAD_TOO_LARGE', 'the chunk extensions are too large'));
    if (code?.startsWith('HPE_') === true) return toEnvelope(new ApiError('VALIDATION_FAILED', 'malformed HTTP request'));
    return undefined;
  }

  private count(socket: Socket, cap: number): void {
    if (socket.remoteAddress === undefined) return; // already gone
    if (this.settings.exemptFromConnectionCap?.(socket.remoteAddress) === true) return;
    const address = normaliseIp(socket.remoteAddress);
    const open = (this.openByAddress.get(address) ?? 0) + 1;
    this.openByAddress.set(address, open);
    if (open > cap) {
      this.overCap.add(socket);
      // An over-cap socket is answered 429 on its first request; one that sends nothing must not hold a descriptor
      // for REQUEST_TIMEOUT_MS, and far past the cap nothing is answered at all: the socket is dropped at once.
      if (open > 2 * cap) socket.destroy();
      else socket.setTimeout(OVER_CAP_IDLE_MS, () => socket.destroy());
    }
    socket.once('close', () => {
      const left = (this.openByAddress.get(address) ?? 1) - 1;
      if (left > 0) this.openByAddress.set(address, left);
      else this.openByAddress.delete(address);
    });
  }
}
