import { createSigner } from 'fast-jwt';
import { Pool } from 'undici';
import { ApiResponse, HttpMethod, requestJson } from '../e2e/support/client';
import { History, ReservationAnswer, ReservationValue } from './history';

export type HttpAnswer<T = any> = ApiResponse<T>;

/** A transport failure: the request may never have left (refused) or its fate is unknown (reset, timeout). */
export class TransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Errors that prove the request never reached the server: a definite failure, not an unknown outcome. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

export interface ReservationResult {
  readonly outcome: 'ok' | 'fail' | 'unknown';
  readonly status?: number;
  readonly code?: string;
  readonly answer?: ReservationAnswer;
}

/**
 * The chaos suite's HTTP client: one undici pool, a hard timeout per request (a request past it is an unknown
 * outcome, as a real client would see it), and every reservation recorded in a History.
 */
export class ChaosClient {
  private pool: Pool;

  constructor(
    private readonly baseUrl: string,
    private readonly jwtSecret: string,
    private readonly options: { connections?: number; timeoutMs?: number } = {},
  ) {
    this.pool = this.newPool();
  }

  private newPool(): Pool {
    return new Pool(this.baseUrl, { connections: this.options.connections ?? 64, pipelining: 1, connectTimeout: 2000 });
  }

  token(userId: string, roles: string[] = []): string {
    return createSigner({ key: this.jwtSecret, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: userId, ...(roles.length ? { roles } : {}) });
  }

  /** One request; throws TransportError when no HTTP answer came back. */
  async request<T = any>(
    method: HttpMethod,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<HttpAnswer<T>> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 10_000;
    try {
      return await requestJson<T>(this.pool, method, path, { ...options, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const e = error as { code?: string; name?: string; message?: string; cause?: { code?: string } };
      const code = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'TIMEOUT' : (e.code ?? e.cause?.code ?? e.name ?? 'ERROR');
      throw new TransportError(code, `${method} ${path}: ${e.message ?? String(error)}`);
    }
  }

  /** A purchase token for the user, or undefined when the sale refuses access (sold out, down, ...). */
  async purchaseToken(saleId: string, userId: string): Promise<string | undefined> {
    try {
      const res = await this.request('GET', `/sales/${saleId}/access`, { token: this.token(userId) });
      return res.status === 200 ? (res.body.purchaseToken as string) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * POST /sales/:id/reservations, recorded in `history`: invoke, then ok (2xx with an order), fail (4xx, or a
   * connection refused: nothing was sent) or unknown (5xx, reset, timeout).
   */
  async reserve(history: History, value: ReservationValue, purchaseToken: string, timeoutMs?: number): Promise<ReservationResult> {
    const op = history.invoke('reserve', value.userId, value);
    try {
      const res = await this.request('POST', `/sales/${value.saleId}/reservations`, {
        token: this.token(value.userId),
        headers: { 'idempotency-key': value.idempotencyKey },
        body: { quantity: value.quantity, purchaseToken },
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      const envelope = (res.body as { error?: { code?: string; retryable?: boolean } } | undefined)?.error;
      const retryAfter = res.headers['retry-after'];
      if ((res.status === 200 || res.status === 201) && typeof res.body?.orderId === 'string') {
        const answer = res.body as ReservationAnswer;
        history.complete(op, 'ok', { status: res.status, body: res.body, orderId: answer.orderId });
        return { outcome: 'ok', status: res.status, answer };
      }
      const details = {
        status: res.status,
        body: res.body,
        code: envelope?.code ?? `HTTP_${res.status}`,
        ...(envelope?.retryable === undefined ? {} : { retryable: envelope.retryable }),
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
      };
      // A 2xx without an order is not an answer this contract knows: treat it as unknown and let the checker flag it.
      const outcome = res.status >= 400 && res.status < 500 ? 'fail' : 'unknown';
      history.complete(op, outcome, details);
      return { outcome, status: res.status, code: details.code };
    } catch (error) {
      const code = error instanceof TransportError ? error.code : 'ERROR';
      const outcome = NEVER_SENT.has(code) ? 'fail' : 'unknown';
      history.complete(op, outcome, { code });
      return { outcome, code };
    }
  }

  /** Drops every connection (after a kill the old sockets are dead) and starts a fresh pool. */
  async reset(): Promise<void> {
    const old = this.pool;
    this.pool = this.newPool();
    await old.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }
}
