/**
 * TEST-ONLY stand-in for an EventStoreDB / KurrentDB server. It is NOT EventStoreDB.
 *
 * A gRPC server (@grpc/grpc-js) built from the service definitions @kurrent/kurrentdb-client ships, whose v1 paths
 * (`event_store.client.*`) are the ones @eventstore/db-client 6.x calls too, so one stand-in serves both clients on
 * `esdb://127.0.0.1:PORT?tls=false` and `kurrentdb://127.0.0.1:PORT?tls=false`. It answers what the clients call
 * for a single insecure node: ServerFeatures.GetSupportedMethods (which lists BatchAppend, so appendToStream goes
 * through BatchAppend as against a real server; `batchAppend: false` hides it and the clients fall back to Append),
 * Streams.Append, Streams.BatchAppend, Streams.Read (streams and $all, both directions, counts, filters,
 * subscriptions with confirmation, checkpoints and caught-up) and Gossip.Read. Every other call answers
 * UNIMPLEMENTED (grpc-js does that for unregistered methods). The semantics over the in-memory log are in
 * event-log.ts. No TLS, no auth, no deletes/tombstones, no stream metadata ($maxAge etc. are not applied), no
 * persistent subscriptions, no projections, no link resolution.
 *
 * Its job: let the EventStoreDB adapter's contract suite and e2e scenarios run in CI where no EventStoreDB can be
 * installed, with the faults that an "unknown outcome" needs. Tests start it through esdb-stand-in.ts, in a process
 * of its own (see there why).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pino, { Logger } from 'pino';
import { GossipService } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/gossip_grpc_pb';
import { ClusterInfo, EndPoint, MemberInfo } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/gossip_pb';
import { ServerFeaturesService } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb';
import { SupportedMethod, SupportedMethods } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_pb';
import { StreamsService } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb';
import {
  AppendReq,
  AppendResp,
  BatchAppendReq,
  BatchAppendResp,
  ReadReq,
  ReadResp,
} from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb';
import { AllStreamPosition } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb';
import { AppendOutcome, EventFilter, EventLog, ExpectedState, LoggedEvent, ProposedEvent, matchesFilter } from './event-log';
import { readAll, readStream, subscriptionHistoryAll, subscriptionHistoryStream } from './read-selection';
import {
  appendExpectation,
  appendResponse,
  batchAppendExpectation,
  caughtUpResponse,
  checkpointResponse,
  parseFilter,
  parseUuid,
  proposedEvent,
  readEventResponse,
  streamIdentifier,
  streamName,
  maximumAppendSizeExceededStatus,
  sizeOnDisk,
  timeoutStatus,
  wrongExpectedVersionStatus,
} from './wire';

export const STAND_IN_LABEL = 'esdb-stand-in (test-only, NOT EventStoreDB)';
/** What GetSupportedMethods reports as the server version: a real release line, so clients enable what it has. */
const REPORTED_SERVER_VERSION = '24.10.0';
/** The server reads $all in pages of this many events; a filter without a window uses it as the window. */
const DEFAULT_SEARCH_WINDOW = 32;
const GRACE_BEFORE_FORCED_SHUTDOWN_MS = 500;
const DEFAULT_MAX_APPEND_SIZE = 1_048_576;

export interface EsdbStandInOptions {
  /** Port to listen on (0 or absent: a free one, kept across restart()). */
  port?: number;
  /** List BatchAppend in the server features (default true, as a real server): the clients then append through it. */
  batchAppend?: boolean;
  /** Period of the `$statsCollected` system events (default 2000 ms; 0: none). The real server's is 30 s. */
  statsPeriodMs?: number;
  /** The server's MaxAppendSize (default 1 MiB, as the server's): larger appends are refused whole. */
  maxAppendSize?: number;
  logger?: Logger;
}


interface Faults {
  dropNextResponse: boolean;
  nextDelayMs: number;
  /** The delayed append is written even if its deadline passed meanwhile (the client was told DEADLINE_EXCEEDED). */
  nextDelayCommitsAnyway: boolean;
}

export interface DelayOptions {
  /**
   * Write the append after the delay even when its deadline has passed: the client has been answered
   * DEADLINE_EXCEEDED (Timeout) yet the events land, as they can on the real server, whose timeout answer and
   * write are independent. Default false: an expired append is not written.
   */
  commitAfterDeadline?: boolean;
}

type CommitResult = { outcome: AppendOutcome; dropped: boolean } | { cancelled: true };

const systemEvent = (type: string, data: unknown): ProposedEvent => ({
  id: randomUUID(),
  type,
  contentType: 'application/json',
  data: Buffer.from(JSON.stringify(data)),
  customMetadata: new Uint8Array(),
});

const unavailable = (what: string): Partial<grpc.StatusObject> => ({
  code: grpc.status.UNAVAILABLE,
  details: `${STAND_IN_LABEL}: injected fault, ${what}`,
});

/** The server itself, in the process that loads it (the child of esdb-stand-in.ts: see there why). */
export class StandInServer {
  readonly log = new EventLog();
  private server: grpc.Server | undefined;
  private readonly faults: Faults = { dropNextResponse: false, nextDelayMs: 0, nextDelayCommitsAnyway: false };
  /** Streaming calls still open: stop() ends each with UNAVAILABLE, as a client sees a server going away. */
  private readonly openCalls = new Set<() => void>();
  private statsTimer: NodeJS.Timeout | undefined;
  private appendCount = 0;
  port: number;

  constructor(
    private readonly options: EsdbStandInOptions,
    private readonly logger: Logger,
  ) {
    this.port = options.port ?? 0;
  }

  events(): readonly LoggedEvent[] {
    return this.log.events();
  }

  append(streamId: string, events: readonly { type: string; data?: unknown; id?: string }[]): AppendOutcome {
    return this.log.append(
      streamId,
      { kind: 'any' },
      events.map((e) => ({ ...systemEvent(e.type, e.data ?? {}), id: e.id ?? randomUUID() })),
    );
  }

  dropNextAppendResponse(): void {
    this.faults.dropNextResponse = true;
  }

  delayNextAppend(ms: number, options: DelayOptions = {}): void {
    this.faults.nextDelayMs = ms;
    this.faults.nextDelayCommitsAnyway = options.commitAfterDeadline ?? false;
  }

  appendRequests(): number {
    return this.appendCount;
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    server.addService(ServerFeaturesService, { getSupportedMethods: this.getSupportedMethods });
    server.addService(GossipService, { read: this.gossip });
    server.addService(StreamsService, { read: this.read, append: this.appendCall, batchAppend: this.batchAppend });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
    this.server = server;
    if (this.log.events().length === 0) this.writeStartupSystemEvents();
    const statsPeriodMs = this.options.statsPeriodMs ?? 2_000;
    if (statsPeriodMs > 0 && !this.statsTimer) {
      this.statsTimer = setInterval(() => {
        this.log.append(`$stats-127.0.0.1:${this.port}`, { kind: 'any' }, [systemEvent('$statsCollected', { 'proc-id': process.pid })]);
      }, statsPeriodMs);
      this.statsTimer.unref();
    }
    this.logger.info({ port: this.port, label: STAND_IN_LABEL }, `${STAND_IN_LABEL} listening`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const endWithUnavailable of [...this.openCalls]) endWithUnavailable();
    this.openCalls.clear();
    // Let those statuses reach the clients, then cut whatever is still open.
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, GRACE_BEFORE_FORCED_SHUTDOWN_MS);
      server.tryShutdown(() => {
        clearTimeout(cut);
        resolve();
      });
    });
    this.logger.info({ port: this.port }, `${STAND_IN_LABEL} stopped (log kept)`);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async killConnections(): Promise<void> {
    await this.restart();
  }

  async close(): Promise<void> {
    clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    await this.stop();
  }

  /** What a fresh server's log holds before any client writes: system streams a `$`-filter must skip. */
  private writeStartupSystemEvents(): void {
    this.log.append('$users', { kind: 'any' }, [systemEvent('$UserCreated', { LoginName: 'admin' })]);
    this.log.append('$user-admin', { kind: 'any' }, [systemEvent('$user', { loginName: 'admin', fullName: 'Event Store Administrator' })]);
    this.log.append(`$$$stats-127.0.0.1:${this.port}`, { kind: 'any' }, [systemEvent('$metadata', { $maxAge: 86_400 })]);
  }

  private readonly getSupportedMethods = (_call: unknown, callback: grpc.sendUnaryData<SupportedMethods>): void => {
    const method = (service: string, name: string) => new SupportedMethod().setServiceName(service).setMethodName(name);
    const streams = 'event_store.client.streams.streams';
    const methods = [
      method(streams, 'read'),
      method(streams, 'append'),
      method('event_store.client.gossip.gossip', 'read'),
      method('event_store.client.server_features.serverfeatures', 'getsupportedmethods'),
    ];
    if (this.options.batchAppend !== false) methods.push(method(streams, 'batchappend'));
    callback(null, new SupportedMethods().setMethodsList(methods).setEventStoreServerVersion(REPORTED_SERVER_VERSION));
  };

  private readonly gossip = (_call: unknown, callback: grpc.sendUnaryData<ClusterInfo>): void => {
    const member = new MemberInfo()
      .setTimeStamp((BigInt(Date.now()) * 10_000n).toString())
      .setState(MemberInfo.VNodeState.LEADER)
      .setIsAlive(true)
      .setHttpEndPoint(new EndPoint().setAddress('127.0.0.1').setPort(this.port));
    callback(null, new ClusterInfo().setMembersList([member]));
  };

  private get maxAppendSize(): number {
    return this.options.maxAppendSize ?? DEFAULT_MAX_APPEND_SIZE;
  }

  private exceedsMaxAppendSize(proposed: readonly ProposedEvent[]): boolean {
    return proposed.reduce((size, event) => size + sizeOnDisk(event), 0) > this.maxAppendSize;
  }

  /** Applies the pending faults around one append: the delay first, the dropped response after the commit. */
  private async commit(
    streamId: string,
    expected: ExpectedState,
    proposed: readonly ProposedEvent[],
    stillWanted: () => boolean,
  ): Promise<CommitResult> {
    this.appendCount++;
    const delayMs = this.faults.nextDelayMs;
    const commitsAnyway = this.faults.nextDelayCommitsAnyway;
    this.faults.nextDelayMs = 0;
    this.faults.nextDelayCommitsAnyway = false;
    if (delayMs > 0) {
      this.logger.info({ streamId, delayMs, commitsAnyway }, `${STAND_IN_LABEL}: delaying an append (fault)`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (!commitsAnyway && !stillWanted()) return { cancelled: true };
    }
    const outcome = this.log.append(streamId, expected, proposed);
    const dropped = this.faults.dropNextResponse && outcome.kind !== 'wrong_expected_version';
    if (dropped) {
      this.faults.dropNextResponse = false;
      this.logger.info({ streamId, outcome: outcome.kind }, `${STAND_IN_LABEL}: append committed, response dropped (fault)`);
    }
    return { outcome, dropped };
  }

  private readonly appendCall = (call: grpc.ServerReadableStream<AppendReq, AppendResp>, callback: grpc.sendUnaryData<AppendResp>): void => {
    let options: AppendReq.Options | undefined;
    const proposed: ProposedEvent[] = [];
    call.on('data', (request: AppendReq) => {
      if (request.hasOptions()) options = request.getOptions();
      const message = request.getProposedMessage();
      if (message) proposed.push(proposedEvent(message));
    });
    call.on('end', () => {
      if (!options) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'append without options' });
        return;
      }
      const streamId = streamName(options.getStreamIdentifier());
      const expected = appendExpectation(options);
      if (this.exceedsMaxAppendSize(proposed)) {
        const trailers = new grpc.Metadata();
        trailers.set('exception', 'maximum-append-size-exceeded');
        trailers.set('maximum-append-size', String(this.maxAppendSize));
        callback({ code: grpc.status.INVALID_ARGUMENT, details: `Maximum Append Size of ${this.maxAppendSize} Exceeded.`, metadata: trailers });
        return;
      }
      void this.commit(streamId, expected, proposed, () => !call.cancelled).then((result) => {
        if ('cancelled' in result) return;
        if (result.dropped) return callback(unavailable('response dropped after the append was committed'));
        callback(null, appendResponse(result.outcome, expected));
      });
    });
  };

  private readonly batchAppend = (call: grpc.ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void => {
    const pending = new Map<string, { options: BatchAppendReq.Options | undefined; messages: ProposedEvent[] }>();
    let open = true;
    const forget = () => {
      open = false;
      this.openCalls.delete(endWithUnavailable);
    };
    const endWithUnavailable = () => {
      if (open) call.emit('error', unavailable('the server is going away'));
      forget();
    };
    this.openCalls.add(endWithUnavailable);
    call.on('cancelled', forget);
    call.on('end', () => {
      if (open) call.end();
      forget();
    });
    call.on('data', (request: BatchAppendReq) => {
      const correlationId = parseUuid(request.getCorrelationId());
      const batch = pending.get(correlationId) ?? { options: undefined, messages: [] };
      if (request.hasOptions()) batch.options = request.getOptions();
      batch.messages.push(...request.getProposedMessagesList().map(proposedEvent));
      pending.set(correlationId, batch);
      if (!request.getIsFinal()) return;
      pending.delete(correlationId);
      const options = batch.options;
      if (!options) return;
      const streamId = streamName(options.getStreamIdentifier());
      const expected = batchAppendExpectation(options);
      const deadline = options.getDeadline21100()?.toDate();
      const response = () => new BatchAppendResp().setCorrelationId(request.getCorrelationId()).setStreamIdentifier(streamIdentifier(streamId));
      // One answer per correlation id: the timeout (the server answers it on its own timer) or the outcome.
      let answered = false;
      const answer = (message: BatchAppendResp) => {
        clearTimeout(timeout);
        if (answered || !open) return;
        answered = true;
        call.write(message);
      };
      const timeout = deadline ? setTimeout(() => answer(response().setError(timeoutStatus())), Math.max(0, deadline.getTime() - Date.now())) : undefined;
      if (this.exceedsMaxAppendSize(batch.messages)) {
        answer(response().setError(maximumAppendSizeExceededStatus(this.maxAppendSize)));
        return;
      }
      const withinDeadline = () => open && !answered;
      void this.commit(streamId, expected, batch.messages, withinDeadline).then((result) => {
        if ('cancelled' in result) return;
        if (result.dropped) {
          clearTimeout(timeout);
          if (!open) return;
          forget();
          call.emit('error', unavailable('response dropped after the append was committed'));
          return;
        }
        const outcome = result.outcome;
        if (outcome.kind === 'wrong_expected_version') {
          answer(response().setError(wrongExpectedVersionStatus(expected, outcome.currentRevision)));
          return;
        }
        const success = new BatchAppendResp.Success()
          .setCurrentRevision(outcome.lastRevision.toString())
          .setPosition(new AllStreamPosition().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()));
        answer(response().setSuccess(success));
      });
    });
  };

  private readonly read = (call: grpc.ServerWritableStream<ReadReq, ReadResp>): void => {
    const options = call.request.getOptions();
    if (!options) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'read without options' });
      return;
    }
    const structuredIds = options.getUuidOption()?.hasStructured() ?? false;
    const filter = parseFilter(options.getFilter());
    const fromAll = options.hasAll();
    const backwards = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
    if (options.hasSubscription()) {
      this.subscribe(call, options, { fromAll, filter, structuredIds });
      return;
    }
    const count = BigInt(options.getCount() || '0');
    let selected: LoggedEvent[];
    if (fromAll) {
      selected = readAll(this.log.events(), options.getAll()!, backwards).filter((e) => matchesFilter(filter, e));
    } else {
      const streamId = streamName(options.getStream()!.getStreamIdentifier());
      const stream = this.log.stream(streamId);
      if (stream.length === 0) {
        call.write(new ReadResp().setStreamNotFound(new ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(streamId))));
        call.end();
        return;
      }
      selected = readStream(stream, options.getStream()!, backwards);
    }
    for (const event of selected.slice(0, Number(count))) call.write(readEventResponse(event, structuredIds, fromAll));
    call.end();
  };

  /**
   * A catch-up subscription: confirmation, the history after the starting point, caught-up, then live events. With
   * a filter, checkpoints as the server sends them: it scans the history in pages of `window` events and, after a
   * page (not the last), sends one if `window × multiplier` events have been considered (matching or not) since the
   * previous, at the page's last matching event (or where the page began); live, after every `window × multiplier`
   * events considered, at the event that completes the count. So a consumer that sees nothing matching still learns
   * how far the scan went.
   */
  private subscribe(
    call: grpc.ServerWritableStream<ReadReq, ReadResp>,
    options: ReadReq.Options,
    { fromAll, filter, structuredIds }: { fromAll: boolean; filter: EventFilter | undefined; structuredIds: boolean },
  ): void {
    const filterOptions = options.getFilter();
    const window = filterOptions?.hasMax() ? filterOptions.getMax() : DEFAULT_SEARCH_WINDOW;
    const checkpointInterval = filter ? window * (filterOptions?.getCheckpointintervalmultiplier() || 1) : Infinity;
    let considered = 0;
    const streamId = fromAll ? undefined : streamName(options.getStream()!.getStreamIdentifier());
    const send = (event: LoggedEvent): boolean => {
      const matches = matchesFilter(filter, event);
      if (matches) call.write(readEventResponse(event, structuredIds, fromAll));
      return matches;
    };

    call.write(new ReadResp().setConfirmation(new ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID())));
    // The log is synchronous: history and the switch to live happen in one turn, so no event falls between them.
    const history = fromAll ? subscriptionHistoryAll(this.log.events(), options.getAll()!) : subscriptionHistoryStream(this.log.stream(streamId!), options.getStream()!);
    for (let start = 0; start < history.length; start += window) {
      const page = history.slice(start, start + window);
      let checkpointAt = page[0]!.position;
      for (const event of page) if (send(event)) checkpointAt = event.position;
      considered += page.length;
      const endOfLog = start + window >= history.length;
      if (!endOfLog && considered >= checkpointInterval) {
        considered %= checkpointInterval;
        call.write(checkpointResponse(checkpointAt, new Date()));
      }
    }
    const last = fromAll ? this.log.lastPosition() : this.log.stream(streamId!).at(-1)?.revision;
    call.write(caughtUpResponse(new Date(), last === undefined ? undefined : fromAll ? { position: last } : { revision: last }));
    const deliver = (event: LoggedEvent) => {
      if (streamId !== undefined && event.streamId !== streamId) return;
      send(event);
      if (++considered >= checkpointInterval) {
        considered = 0;
        call.write(checkpointResponse(event.position, new Date()));
      }
    };
    const unsubscribe = this.log.onAppended(deliver);
    const end = () => {
      unsubscribe();
      this.openCalls.delete(endWithUnavailable);
    };
    const endWithUnavailable = () => {
      end();
      call.emit('error', unavailable('the server is going away'));
    };
    this.openCalls.add(endWithUnavailable);
    call.on('cancelled', end);
    call.on('error', end);
    call.on('close', end);
  }
}

/** Starts the server in this process. Test-only: it is NOT EventStoreDB. */
export const startStandInServer = async (options: EsdbStandInOptions = {}): Promise<StandInServer> => {
  const logger = options.logger ?? pino({ name: STAND_IN_LABEL, level: process.env.ESDB_STAND_IN_LOG_LEVEL ?? 'silent' });
  const server = new StandInServer(options, logger);
  await server.start();
  return server;
};
