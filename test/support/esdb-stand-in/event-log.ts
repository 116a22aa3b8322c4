/**
 * The in-memory transaction log of the TEST-ONLY EventStoreDB stand-in (it is NOT EventStoreDB).
 *
 * It keeps the server semantics the event-store adapter relies on, as the real server documents and implements them:
 * - positions in $all are log byte offsets, so they are SPARSE (they grow by each record's size plus a commit record
 *   per append), never 1, 2, 3; commit and prepare positions are equal for every event (one implicit transaction per
 *   append, as the server writes them);
 * - optimistic concurrency: expected revision exact / no_stream / any / stream_exists, failing with the stream's
 *   actual revision;
 * - idempotent event ids: a retry of an append whose ids are already in the stream at the expected place (or, with
 *   any / stream_exists, anywhere) succeeds without writing again and answers the original revision and position;
 *   a retry that matches only part of those ids is refused (the server's "corrupted idempotency");
 * - $all holds system ($-prefixed) streams and events as well as the application's.
 */

export type ExpectedState = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: bigint };

export interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

export interface LoggedEvent extends ProposedEvent {
  readonly streamId: string;
  readonly revision: bigint;
  /** Byte offset of the record in the log: the event's commit position and prepare position (sparse). */
  readonly position: bigint;
  /** .NET ticks (100 ns) since the Unix epoch, as the server's `created` metadata. */
  readonly createdTicks: bigint;
}

export type AppendOutcome =
  | { kind: 'written' | 'idempotent'; lastRevision: bigint; position: bigint }
  | { kind: 'wrong_expected_version'; currentRevision: bigint | undefined };

export interface EventFilter {
  readonly on: 'stream' | 'event_type';
  readonly prefixes: readonly string[];
  readonly regex: RegExp | undefined;
}

export const matchesFilter = (filter: EventFilter | undefined, event: LoggedEvent): boolean => {
  if (!filter) return true;
  const subject = filter.on === 'stream' ? event.streamId : event.type;
  if (filter.regex) return filter.regex.test(subject);
  return filter.prefixes.some((prefix) => subject.startsWith(prefix));
};

/** Where the first user record lands: the real log starts with the epoch and system records, never at 0. */
const FIRST_POSITION = 4_096n;
/** Fixed part of a prepare record (flags, ids, positions, timestamps) in the server's log format, roughly. */
const PREPARE_RECORD_OVERHEAD = 86;
/** The commit record that closes each implicit transaction: another gap between two appends. */
const COMMIT_RECORD_SIZE = 37n;
const TICKS_PER_MS = 10_000n;

const utf8Length = (text: string): number => Buffer.byteLength(text, 'utf8');

export class EventLog {
  private readonly all: LoggedEvent[] = [];
  private readonly streams = new Map<string, LoggedEvent[]>();
  private readonly listeners = new Set<(event: LoggedEvent) => void>();
  private nextPosition = FIRST_POSITION;

  constructor(private readonly now: () => number = Date.now) {}

  events(): readonly LoggedEvent[] {
    return this.all;
  }

  stream(streamId: string): readonly LoggedEvent[] {
    return this.streams.get(streamId) ?? [];
  }

  /** The position a subscription "from the end" starts after, or undefined when the log is empty. */
  lastPosition(): bigint | undefined {
    return this.all.at(-1)?.position;
  }

  onAppended(listener: (event: LoggedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(streamId: string, expected: ExpectedState, proposed: readonly ProposedEvent[]): AppendOutcome {
    const existing = this.streams.get(streamId) ?? [];
    const current = existing.length === 0 ? undefined : BigInt(existing.length - 1);
    const idempotency = this.checkIdempotency(existing, expected, proposed);
    if (idempotency === 'corrupted') return { kind: 'wrong_expected_version', currentRevision: current };
    if (idempotency) return { kind: 'idempotent', lastRevision: idempotency.revision, position: idempotency.position };
    if (!this.expectationHolds(expected, current)) return { kind: 'wrong_expected_version', currentRevision: current };
    if (proposed.length === 0) return { kind: 'written', lastRevision: current ?? -1n, position: this.lastPosition() ?? 0n };

    const written: LoggedEvent[] = [];
    const createdTicks = BigInt(this.now()) * TICKS_PER_MS;
    for (const event of proposed) {
      const logged: LoggedEvent = { ...event, streamId, revision: BigInt(existing.length), position: this.nextPosition, createdTicks };
      this.nextPosition += BigInt(PREPARE_RECORD_OVERHEAD + utf8Length(streamId) + utf8Length(event.type) + event.data.length + event.customMetadata.length);
      existing.push(logged);
      this.all.push(logged);
      written.push(logged);
    }
    this.nextPosition += COMMIT_RECORD_SIZE;
    this.streams.set(streamId, existing);
    for (const event of written) for (const listener of this.listeners) listener(event);
    const last = written.at(-1)!;
    // The server answers the position of the append's last event.
    return { kind: 'written', lastRevision: last.revision, position: last.position };
  }

  private expectationHolds(expected: ExpectedState, current: bigint | undefined): boolean {
    switch (expected.kind) {
      case 'any':
        return true;
      case 'no_stream':
        return current === undefined;
      case 'stream_exists':
        return current !== undefined;
      case 'revision':
        return current === expected.revision;
    }
  }

  /**
   * The server's idempotency check: where the proposed ids should already be (right after the expected revision,
   * or, without one, wherever the first id was written), all of them → the earlier result; some → corrupted; none →
   * not a retry.
   */
  private checkIdempotency(
    existing: readonly LoggedEvent[],
    expected: ExpectedState,
    proposed: readonly ProposedEvent[],
  ): LoggedEvent | 'corrupted' | undefined {
    const first = proposed[0];
    if (!first) return undefined;
    let start: number;
    if (expected.kind === 'revision' || expected.kind === 'no_stream') {
      start = expected.kind === 'no_stream' ? 0 : Number(expected.revision) + 1;
      if (start >= existing.length) return undefined;
    } else {
      start = existing.findIndex((event) => event.id === first.id);
      if (start < 0) return undefined;
    }
    let matched = 0;
    for (const [i, event] of proposed.entries()) {
      if (existing[start + i]?.id !== event.id) break;
      matched++;
    }
    if (matched === proposed.length) return existing[start + matched - 1];
    return matched === 0 ? undefined : 'corrupted';
  }
}
