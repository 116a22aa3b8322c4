import net from 'node:net';

/** One HTTP/1.1 response as it came over the wire. */
export interface RawResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Record<string, string>;
  readonly text: string;
  /** `text` parsed as JSON (undefined when it is not JSON). */
  readonly body: any;
}

/**
 * A client-side TCP connection written by hand, for what a pooled HTTP client cannot do: send half a request and
 * know the server has taken it (its `100 Continue`, or its answer to a request pipelined ahead on the same socket),
 * then finish it later. It records every byte received and how the connection ended.
 */
export class RawConnection {
  private readonly socket: net.Socket;
  private received = Buffer.alloc(0);
  private error: Error | undefined;
  private closedFlag = false;
  private readonly waiters = new Set<() => void>();
  readonly connected: Promise<void>;
  readonly closed: Promise<void>;

  /** `localAddress` (any of 127.0.0.0/8 on Linux) makes the connection come from another client address. */
  constructor(port: number, options: { localAddress?: string } = {}) {
    this.socket = net.connect({ port, host: '127.0.0.1', ...options });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.notify();
    });
    this.socket.on('error', (error) => (this.error = error));
    this.socket.on('close', () => {
      this.closedFlag = true;
      this.notify();
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** How the connection ended so far: still open, closed after the server's FIN, or closed on an error. */
  get state(): 'open' | 'closed' | `error: ${string}` {
    if (!this.closedFlag) return 'open';
    return this.error === undefined ? 'closed' : `error: ${(this.error as NodeJS.ErrnoException).code ?? this.error.message}`;
  }

  /** Every byte received so far, as Latin-1 text (one character per byte). */
  get receivedText(): string {
    return this.received.toString('latin1');
  }

  /** Every complete response received so far, in order (interim 1xx answers included). */
  responses(): RawResponse[] {
    return parseResponses(this.received);
  }

  /** Resolves once `check` holds on the responses received, rejects once the connection closes or the deadline passes without it. */
  async waitFor(what: string, check: (responses: RawResponse[]) => boolean, timeoutMs: number): Promise<RawResponse[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const responses = this.responses();
      if (check(responses)) return responses;
      if (this.closedFlag) throw new Error(`${what}: the connection ended (${this.state}) first; received:\n${this.received.toString('latin1')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not within ${timeoutMs} ms; received:\n${this.received.toString('latin1')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  /** Resolves once the connection has closed; rejects at the deadline. */
  async waitClosed(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.closed,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the connection still open after ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

/** Splits a byte stream into HTTP/1.1 responses framed by Content-Length; a trailing incomplete one is left out. */
export const parseResponses = (bytes: Buffer): RawResponse[] => {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) return out;
    const [statusLine, ...lines] = bytes.toString('latin1', at, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
    if (!Number.isInteger(status)) throw new Error(`not an HTTP response: ${statusLine}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = status < 200 ? 0 : Number(headers['content-length'] ?? NaN);
    if (!Number.isInteger(length)) throw new Error(`a ${status} answer without Content-Length: ${JSON.stringify(headers)}`);
    const bodyStart = headEnd + 4;
    if (bytes.length < bodyStart + length) return out;
    const text = bytes.toString('utf8', bodyStart, bodyStart + length);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    out.push({ status, headers, text, body });
    at = bodyStart + length;
  }
};

/** What happens to a new TCP connection to the port: accepted (then closed again by us) or refused. */
export const tryConnect = (port: number): Promise<'accepted' | 'refused'> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? resolve('refused') : reject(error)));
  });
