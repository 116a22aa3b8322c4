import { createSigner } from 'fast-jwt';
import { Pool } from 'undici';

export interface ApiResponse<T = any> {
  readonly status: number;
  readonly body: T;
  readonly headers: Record<string, string | string[] | undefined>;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestOptions {
  readonly token?: string;
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
  /** Aborts the request (a timeout, for clients that must give up as real ones do). */
  readonly signal?: AbortSignal;
}

/** One request over a pool: bearer token, a JSON body (or raw text), and the answer parsed when it is JSON. */
export const requestJson = async <T = any>(pool: Pool, method: HttpMethod, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> => {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  const res = await pool.request({ method, path, headers, ...(options.signal ? { signal: options.signal } : {}), ...(body === undefined ? {} : { body }) });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.statusCode, body: parsed as T, headers: res.headers };
};

/** A thin HTTP client over one undici pool: enough concurrency for a spike without a socket per request. */
export class ApiClient {
  private readonly pool: Pool;

  constructor(
    baseUrl: string,
    private readonly jwtSecret: string,
    connections = 64,
  ) {
    this.pool = new Pool(baseUrl, { connections, pipelining: 1 });
  }

  token(userId: string, roles: string[] = [], expiresInMs = 3_600_000): string {
    return createSigner({ key: this.jwtSecret, algorithm: 'HS256', expiresIn: expiresInMs })({ sub: userId, ...(roles.length ? { roles } : {}) });
  }

  request<T = any>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return requestJson<T>(this.pool, method, path, options);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

export const ERROR_ENVELOPE = {
  error: expect.objectContaining({ code: expect.any(String), message: expect.any(String), retryable: expect.any(Boolean) }),
};

/** A sale that is open now, as an admin would create it. */
export const openSale = (overrides: Record<string, unknown> = {}) => ({
  sku: 'SKU-E2E',
  name: 'e2e sale',
  price: 1999,
  totalStock: 300,
  shards: 8,
  startsAt: new Date(Date.now() - 1000).toISOString(),
  endsAt: new Date(Date.now() + 3_600_000).toISOString(),
  perUserLimit: 1,
  inventoryMode: 'reserve',
  holdTtlMs: 600_000,
  challenge: 'none',
  ...overrides,
});

/** Signs a payment webhook body the way the provider does: hex HMAC-SHA256 over the raw bytes. */
export const signedWebhook = (secret: string, payment: { paymentId: string; orderId: string; amount: number; status: 'succeeded' | 'failed' }) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHmac } = require('node:crypto') as typeof import('node:crypto');
  const rawBody = JSON.stringify(payment);
  return { rawBody, headers: { 'x-signature': createHmac('sha256', secret).update(rawBody).digest('hex') } };
};
