/**
 * Test support for the PostgreSQL adapter: the server to use, a database of one's own per test file, and a proxy
 * that can hold or cut a connection at its COMMIT. Test-only.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Client } from 'pg';
import { describeRequiring } from '../../../test/support/ci';

/** The server the tests use (a superuser, to create and drop databases); PG_TEST_URL overrides it. */
export const PG_TEST_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Whether something accepts connections at PG_TEST_URL's address (checked synchronously, for `describe`). */
export const postgresAvailable = (): boolean => {
  const { hostname, port } = new URL(PG_TEST_URL);
  const probe = `const s=require('net').connect(${Number(port || 5432)},${JSON.stringify(hostname)});s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),3000)`;
  return spawnSync(process.execPath, ['-e', probe], { timeout: 10_000 }).status === 0;
};

/** Under CI a missing PostgreSQL fails the suite; elsewhere it is skipped, loudly. */
export const describeWithPostgres = (name: string, fn: () => void): void =>
  describeRequiring({ what: `PostgreSQL at ${new URL(PG_TEST_URL).host} (see .ci/run)`, available: postgresAvailable }, name, fn);

/** The URL of another database (or another address) on the same server and user. */
export const withDatabase = (url: string, database: string, port?: number): string => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  if (port !== undefined) {
    parsed.hostname = '127.0.0.1';
    parsed.port = String(port);
  }
  return parsed.toString();
};

/** `CREATE DATABASE flash_es_<random>` for one test file, dropped (connections and all) at the end. */
export class TestDatabase {
  readonly name = `flash_es_${randomBytes(6).toString('hex')}`;
  readonly url = withDatabase(PG_TEST_URL, this.name);

  async create(): Promise<void> {
    await this.admin(`CREATE DATABASE ${this.name}`);
  }

  async drop(): Promise<void> {
    await this.admin(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }

  /** One statement on the test database. */
  async query<T extends object>(text: string, values: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  private async admin(statement: string): Promise<void> {
    const client = new Client({ connectionString: PG_TEST_URL });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }
}

/** A COMMIT held on its way to the server. */
export interface HeldCommit {
  /** Resolves once a client has sent its COMMIT and the proxy holds it (the transaction is open on the server). */
  readonly held: Promise<void>;
  /** Sends the COMMIT on, and everything the client sent after it. */
  release(): void;
  /** Cuts that client's connection instead: the server rolls the transaction back. */
  cut(): void;
}

const SSL_REQUEST = 80877103;

/** Splits a byte stream into protocol messages; `untyped` for the client's first one (length first, no type byte). */
class Framer {
  private buffer = Buffer.alloc(0);
  constructor(private untyped: boolean) {}

  push(chunk: Buffer): Buffer[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const messages: Buffer[] = [];
    for (;;) {
      const header = this.untyped ? 0 : 1;
      if (this.buffer.length < header + 4) return messages;
      const total = header + this.buffer.readInt32BE(header);
      if (this.buffer.length < total) return messages;
      const message = this.buffer.subarray(0, total);
      this.buffer = this.buffer.subarray(total);
      // After an SSLRequest the client sends its startup message, untyped too (the tests never ask for TLS).
      if (this.untyped && message.readInt32BE(4) !== SSL_REQUEST) this.untyped = false;
      messages.push(message);
    }
  }
}

/** A simple-protocol query's text ('Q', length, text, NUL). */
const queryText = (message: Buffer): string | undefined => (message[0] === 0x51 ? message.subarray(5, message.length - 1).toString('utf8') : undefined);
/** A CommandComplete's tag ('C', length, tag, NUL). */
const commandTag = (message: Buffer): string | undefined => (message[0] === 0x43 ? message.subarray(5, message.length - 1).toString('utf8') : undefined);

/**
 * A TCP proxy in front of the PostgreSQL server that forwards the protocol message by message and can, once, hold
 * the next COMMIT a client sends (a transaction kept open after it wrote) or drop the server's answer to it (a
 * commit whose acknowledgement never arrives).
 */
export class CommitProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private hold: { signal: () => void; session?: { release(): void; cut(): void } } | undefined;
  private dropReply: (() => void) | undefined;
  /** COMMITs clients have sent through the proxy (held ones included). */
  commits = 0;
  /** Statements clients have had executed through the extended protocol (their Bind messages): queries sent. */
  binds = 0;

  private constructor(private readonly upstream: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(url = PG_TEST_URL): Promise<CommitProxy> {
    const { hostname, port } = new URL(url);
    const proxy = new CommitProxy({ host: hostname, port: Number(port || 5432) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  holdNextCommit(): HeldCommit {
    let signal!: () => void;
    const held = new Promise<void>((resolve) => (signal = resolve));
    const hold: NonNullable<CommitProxy['hold']> = { signal };
    this.hold = hold;
    return {
      held,
      release: () => hold.session?.release(),
      cut: () => hold.session?.cut(),
    };
  }

  /** Resolves once a COMMIT has been carried out by the server and the connection cut before its answer. */
  dropNextCommitReply(): Promise<void> {
    return new Promise((resolve) => (this.dropReply = resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const server = net.connect(this.upstream.port, this.upstream.host);
    for (const socket of [client, server]) {
      this.sockets.add(socket);
      socket.setNoDelay(true); // message by message: Nagle's delay would add up to seconds
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        server.destroy();
      });
    }
    const cut = (): void => {
      client.destroy();
      server.destroy();
    };
    let held: Buffer[] | undefined;
    const fromClient = new Framer(true);
    client.on('data', (chunk: Buffer) => {
      for (const message of fromClient.push(chunk)) {
        if (held !== undefined) {
          held.push(message);
          continue;
        }
        if (message[0] === 0x42) this.binds++;
        const isCommit = queryText(message)?.trim().toUpperCase() === 'COMMIT';
        if (isCommit) this.commits++;
        const hold = this.hold;
        if (hold !== undefined && isCommit) {
          this.hold = undefined;
          const queue: Buffer[] = [message];
          held = queue;
          hold.session = {
            release: () => {
              held = undefined;
              for (const m of queue) server.write(m);
            },
            cut,
          };
          hold.signal();
          continue;
        }
        server.write(message);
      }
    });
    const fromServer = new Framer(false);
    server.on('data', (chunk: Buffer) => {
      for (const message of fromServer.push(chunk)) {
        const dropped = this.dropReply;
        if (dropped !== undefined && commandTag(message) === 'COMMIT') {
          this.dropReply = undefined;
          cut();
          dropped();
          return;
        }
        client.write(message);
      }
    });
  }
}
