/**
 * TEST-ONLY stand-in for an EventStoreDB / KurrentDB server. It is NOT EventStoreDB: see stand-in-server.ts for what
 * it speaks and event-log.ts for the semantics it keeps.
 *
 * It always runs in a child process of its own (cli.js). Why: the two client packages' generated protobuf code
 * registers its classes in one process-wide namespace (`proto.event_store.client.*` on the global object), and the
 * package loaded last wins for both: @eventstore/db-client's BatchAppend then fails to serialize ("getDeadline21100
 * is not a function"). A server built from one package's definitions must therefore never share a process (or a
 * Jest test file, which has one global) with code using the other package; e2e tests get the same process anyway.
 *
 * In an e2e test: `const esdb = await startEsdbStandIn();`, spawn the built api with `EVENTSTORE_URL: esdb.url()`
 * in its environment, and `await esdb.close()` after. By hand: `node test/support/esdb-stand-in/cli.js --port 2113`.
 */
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { StandInCommand, StandInReply } from './child';
import type { AppendOutcome, LoggedEvent } from './event-log';
import type { DelayOptions } from './stand-in-server';

export type { AppendOutcome, LoggedEvent } from './event-log';
export type { DelayOptions } from './stand-in-server';

export interface EsdbStandInOptions {
  /** Port to listen on (absent: a free one, kept across restart()). */
  port?: number;
  /** List BatchAppend in the server features (default true, as a real server): the clients then append through it. */
  batchAppend?: boolean;
  /** Period of the `$statsCollected` system events (default 2000 ms; 0: none). The real server's is 30 s. */
  statsPeriodMs?: number;
  /** The server's MaxAppendSize in bytes (default 1 MiB, as the server's): a larger append is refused whole. */
  maxAppendSize?: number;
}

export interface EsdbStandIn {
  readonly port: number;
  /** The child process the stand-in runs in. */
  readonly pid: number;
  /** A connection string for one client package: `esdb://…` (@eventstore/db-client) or `kurrentdb://…`. */
  url(client?: 'esdb' | 'kurrentdb'): string;
  /** Every event of the log in $all order, system events included (bigint revisions and positions). */
  events(): Promise<LoggedEvent[]>;
  /** Appends with expected state any, as a client would: e.g. a system event, to exercise the adapter's filter. */
  append(streamId: string, events: readonly { type: string; data?: unknown; id?: string }[]): Promise<AppendOutcome>;
  /** Fault: the next append is committed, then its call fails with UNAVAILABLE as if the connection had dropped. */
  dropNextAppendResponse(): Promise<void>;
  /**
   * Fault: the next append waits this long first. If its deadline passes meanwhile the client is answered
   * DEADLINE_EXCEEDED and, by default, nothing is written; with `commitAfterDeadline` the events land anyway.
   */
  delayNextAppend(ms: number, options?: DelayOptions): Promise<void>;
  /** How many appends (Append calls, BatchAppend batches) reached the server: what a retry test counts. */
  appendRequests(): Promise<number>;
  /** Closes every client connection at once (stop, then listen again on the same port; the log is kept). */
  killConnections(): Promise<void>;
  /** Stops listening and closes every connection; the log is kept for restart(). */
  stop(): Promise<void>;
  /** Listens again on the same port, with the same log. */
  restart(): Promise<void>;
  /** Stops for good and ends the child process. */
  close(): Promise<void>;
}

const CLI = path.join(__dirname, 'cli.js');
const READY_TIMEOUT_MS = 60_000;

class ChildStandIn implements EsdbStandIn {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (reply: StandInReply) => {
      if (!('id' in reply)) return;
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.ok) waiter?.resolve(reply.value);
      else waiter?.reject(new Error(`esdb stand-in: ${reply.error}`));
    });
    child.on('exit', () => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error('esdb stand-in: its process exited'));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  url(client: 'esdb' | 'kurrentdb' = 'esdb'): string {
    return `${client}://127.0.0.1:${this.port}?tls=false`;
  }

  events(): Promise<LoggedEvent[]> {
    return this.call('events') as Promise<LoggedEvent[]>;
  }

  append(streamId: string, events: readonly { type: string; data?: unknown; id?: string }[]): Promise<AppendOutcome> {
    return this.call('append', streamId, events) as Promise<AppendOutcome>;
  }

  async dropNextAppendResponse(): Promise<void> {
    await this.call('dropNextAppendResponse');
  }

  async delayNextAppend(ms: number, options: DelayOptions = {}): Promise<void> {
    await this.call('delayNextAppend', ms, options);
  }

  appendRequests(): Promise<number> {
    return this.call('appendRequests') as Promise<number>;
  }

  async killConnections(): Promise<void> {
    await this.call('killConnections');
  }

  async stop(): Promise<void> {
    await this.call('stop');
  }

  async restart(): Promise<void> {
    await this.call('restart');
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.call('close').catch(() => undefined);
    this.child.kill('SIGTERM');
    await exited;
  }

  private call(op: StandInCommand['op'], ...args: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, op, args } satisfies StandInCommand);
    });
  }
}

/** Starts a stand-in in its own process on 127.0.0.1 and resolves once it listens. Test-only: NOT EventStoreDB. */
export const startEsdbStandIn = async (options: EsdbStandInOptions = {}): Promise<EsdbStandIn> => {
  const args = ['--port', String(options.port ?? 0)];
  if (options.batchAppend === false) args.push('--no-batch-append');
  if (options.statsPeriodMs !== undefined) args.push('--stats-period-ms', String(options.statsPeriodMs));
  if (options.maxAppendSize !== undefined) args.push('--max-append-size', String(options.maxAppendSize));
  const child = fork(CLI, args, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`esdb stand-in: not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.on('message', (reply: StandInReply) => {
      if ('ready' in reply) {
        clearTimeout(timer);
        resolve(reply.ready);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`esdb stand-in: its process exited before it listened (code ${code})`));
    });
  });
  return new ChildStandIn(child, port);
};
