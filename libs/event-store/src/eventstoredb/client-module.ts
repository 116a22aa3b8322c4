/**
 * What the EventStoreDB adapter uses of a gRPC client package, in one shape for both packages that speak the protocol:
 * `@eventstore/db-client` 6.x and its maintained successor `@kurrent/kurrentdb-client` 1.x. They differ in a few
 * names (the client class, `expectedRevision` vs `streamState`, `actualVersion` vs `actualState`, the URL scheme each
 * accepts without a warning); `clientModule(pkg)` hides exactly those differences, so the adapter is written once and
 * the contract suite runs it on both.
 */

export interface ClientPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export interface ClientRecordedEvent {
  readonly streamId: string;
  readonly id: string;
  readonly revision: bigint;
  readonly type: string;
  readonly created: Date | number;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly position?: ClientPosition;
}

export interface ClientResolvedEvent {
  readonly event?: ClientRecordedEvent;
}

export interface ClientEventData {
  readonly id: string;
  readonly contentType: 'application/json';
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
}

export type ClientReadPosition = 'start' | 'end' | ClientPosition;
export type ClientExpectedRevision = bigint | 'no_stream';

export interface ClientSubscription extends AsyncIterable<ClientResolvedEvent> {
  unsubscribe(): Promise<void>;
}

/** A connected client, as the adapter calls it (both packages' `Client` fit this shape). */
export interface ClientConnection {
  appendToStream(streamName: string, events: ClientEventData[], options: Record<string, unknown>): Promise<{ nextExpectedRevision: bigint; position?: ClientPosition }>;
  readStream(streamName: string, options: Record<string, unknown>): AsyncIterable<ClientResolvedEvent>;
  readAll(options: Record<string, unknown>): AsyncIterable<ClientResolvedEvent>;
  subscribeToAll(options: Record<string, unknown>): ClientSubscription;
  dispose(): Promise<void>;
}

/** The part of a client package's exports the adapter reads (structural: both packages have it). */
export interface ClientPackage {
  readonly START: 'start';
  readonly END: 'end';
  readonly FORWARDS: 'forwards';
  readonly BACKWARDS: 'backwards';
  readonly NO_STREAM: 'no_stream';
  streamNameFilter(options: { prefixes: string[] }): unknown;
  excludeSystemEvents(): unknown;
}

export interface EsdbClientModule {
  /** The package's name, for logs and test titles. */
  readonly packageName: string;
  readonly START: 'start';
  readonly END: 'end';
  readonly FORWARDS: 'forwards';
  readonly BACKWARDS: 'backwards';
  readonly NO_STREAM: 'no_stream';
  /** A client for `url` (esdb://, kurrentdb:// or kurrent://: rewritten to the scheme this package expects). */
  connect(url: string): ClientConnection;
  /** The package's option for the append's concurrency check. */
  expectedRevisionOption(expected: ClientExpectedRevision): Record<string, unknown>;
  streamNameFilter(prefixes: string[]): unknown;
  excludeSystemEvents(): unknown;
  /**
   * The precision of `created` on everything this package reads: 1000 for @kurrent/kurrentdb-client 1.x, whose reads
   * (through its Rust bridge) give whole seconds while its subscriptions give milliseconds; 1 for the legacy client.
   * The adapter rounds every recordedAt down to it, so an event reads the same through every path.
   */
  readonly createdPrecisionMs: number;
}

/** The error type of a CommandError (the same strings in both packages), or undefined for anything else. */
export const commandErrorType = (error: unknown): string | undefined => {
  const type = (error as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
};

/** The stream's revision a WrongExpectedVersionError reports: a bigint, or 'no_stream'. */
export const actualRevisionOf = (error: unknown): bigint | 'no_stream' | undefined => {
  const e = error as { actualVersion?: unknown; actualState?: unknown };
  const actual = e.actualVersion ?? e.actualState;
  if (typeof actual === 'bigint') return actual;
  if (actual === 'no_stream') return 'no_stream';
  return undefined;
};

interface ConnectablePackage {
  readonly EventStoreDBClient?: { connectionString(url: string): unknown };
  readonly KurrentDBClient?: { connectionString(url: string): unknown };
}

const SCHEME = /^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//i;

/** Wraps one client package's exports; `pkg` is `import * as pkg from '<package>'`. */
export const clientModule = (pkg: ClientPackage & ConnectablePackage): EsdbClientModule => {
  const kurrent = pkg.KurrentDBClient;
  const legacy = pkg.EventStoreDBClient;
  const clientClass = kurrent ?? legacy;
  if (clientClass === undefined) throw new TypeError('the client package exports neither KurrentDBClient nor EventStoreDBClient');
  const packageName = kurrent !== undefined ? '@kurrent/kurrentdb-client' : '@eventstore/db-client';
  // The legacy client refuses kurrentdb://; the new one accepts esdb:// but warns on the console for it.
  const scheme = kurrent !== undefined ? 'kurrentdb' : 'esdb';
  return {
    packageName,
    START: pkg.START,
    END: pkg.END,
    FORWARDS: pkg.FORWARDS,
    BACKWARDS: pkg.BACKWARDS,
    NO_STREAM: pkg.NO_STREAM,
    connect: (url) => clientClass.connectionString(url.trim().replace(SCHEME, (_match, _s: string, discover: string | undefined) => `${scheme}${discover ?? ''}://`)) as ClientConnection,
    expectedRevisionOption: (expected) => (kurrent !== undefined ? { streamState: expected } : { expectedRevision: expected }),
    streamNameFilter: (prefixes) => pkg.streamNameFilter({ prefixes }),
    excludeSystemEvents: () => pkg.excludeSystemEvents(),
    createdPrecisionMs: kurrent !== undefined ? 1000 : 1,
  };
};
