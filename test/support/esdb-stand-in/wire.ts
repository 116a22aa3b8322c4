/**
 * Protobuf conversions for the TEST-ONLY EventStoreDB stand-in (it is NOT EventStoreDB). The message classes are the
 * ones @kurrent/kurrentdb-client ships (its v1 protocol is a superset of @eventstore/db-client's, on the same service
 * paths), so both clients read what this writes.
 */
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';
import { Empty as GoogleEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import { Code } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/code_pb';
import { Empty, MaximumAppendSizeExceeded, StreamIdentifier, UUID, WrongExpectedVersion } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb';
import { Status } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb';
import { AppendReq, AppendResp, BatchAppendReq, ReadReq, ReadResp } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb';
import { AppendOutcome, EventFilter, ExpectedState, LoggedEvent, ProposedEvent } from './event-log';

const U64 = 1n << 64n;
const I64_MAX = (1n << 63n) - 1n;

export const streamName = (identifier: StreamIdentifier | undefined): string =>
  Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');

export const streamIdentifier = (name: string): StreamIdentifier => new StreamIdentifier().setStreamName(Buffer.from(name, 'utf8'));

const signed64 = (unsigned: bigint): string => (unsigned > I64_MAX ? unsigned - U64 : unsigned).toString();

/** A UUID as the client asked: its string form, or the structured pair of 64-bit halves (most significant first). */
export const uuid = (id: string, structured: boolean): UUID => {
  if (!structured) return new UUID().setString(id);
  const hex = id.replace(/-/g, '');
  return new UUID().setStructured(
    new UUID.Structured().setMostSignificantBits(signed64(BigInt(`0x${hex.slice(0, 16)}`))).setLeastSignificantBits(signed64(BigInt(`0x${hex.slice(16)}`))),
  );
};

export const parseUuid = (id: UUID | undefined): string => {
  if (!id) return '';
  if (!id.hasStructured()) return id.getString();
  const half = (bits: string) => ((BigInt(bits) + U64) % U64).toString(16).padStart(16, '0');
  const hex = half(id.getStructured()!.getMostSignificantBits()) + half(id.getStructured()!.getLeastSignificantBits());
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

interface WireProposedMessage {
  getId(): UUID | undefined;
  getMetadataMap(): { get(key: string): string | undefined };
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}

export const proposedEvent = (message: WireProposedMessage): ProposedEvent => ({
  id: parseUuid(message.getId()),
  type: message.getMetadataMap().get('type') ?? '',
  contentType: message.getMetadataMap().get('content-type') ?? 'application/octet-stream',
  data: message.getData_asU8(),
  customMetadata: message.getCustomMetadata_asU8(),
});

export const recordedEvent = (event: LoggedEvent, structuredIds: boolean): ReadResp.ReadEvent.RecordedEvent => {
  const recorded = new ReadResp.ReadEvent.RecordedEvent()
    .setId(uuid(event.id, structuredIds))
    .setStreamIdentifier(streamIdentifier(event.streamId))
    .setStreamRevision(event.revision.toString())
    .setPreparePosition(event.position.toString())
    .setCommitPosition(event.position.toString())
    .setData(event.data)
    .setCustomMetadata(event.customMetadata);
  recorded.getMetadataMap().set('type', event.type).set('content-type', event.contentType).set('created', event.createdTicks.toString());
  return recorded;
};

/** An event as a read of $all carries it (with its commit position) or a read of one stream (without). */
export const readEventResponse = (event: LoggedEvent, structuredIds: boolean, fromAll: boolean): ReadResp => {
  const readEvent = new ReadResp.ReadEvent().setEvent(recordedEvent(event, structuredIds));
  if (fromAll) readEvent.setCommitPosition(event.position.toString());
  else readEvent.setNoPosition(new Empty());
  return new ReadResp().setEvent(readEvent);
};

export const checkpointResponse = (position: bigint, now: Date): ReadResp =>
  new ReadResp().setCheckpoint(
    new ReadResp.Checkpoint().setCommitPosition(position.toString()).setPreparePosition(position.toString()).setTimestamp(Timestamp.fromDate(now)),
  );

export const caughtUpResponse = (now: Date, at: { position: bigint } | { revision: bigint } | undefined): ReadResp => {
  const caughtUp = new ReadResp.CaughtUp().setTimestamp(Timestamp.fromDate(now));
  if (at && 'position' in at) caughtUp.setPosition(new ReadResp.Position().setCommitPosition(at.position.toString()).setPreparePosition(at.position.toString()));
  if (at && 'revision' in at) caughtUp.setStreamRevision(at.revision.toString());
  return new ReadResp().setCaughtUp(caughtUp);
};

export const parseFilter = (filter: ReadReq.Options.FilterOptions | undefined): EventFilter | undefined => {
  if (!filter) return undefined;
  const on = filter.hasStreamIdentifier() ? 'stream' : 'event_type';
  const expression = filter.hasStreamIdentifier() ? filter.getStreamIdentifier()! : filter.getEventType()!;
  const regex = expression.getRegex();
  return { on, prefixes: expression.getPrefixList(), regex: regex === '' ? undefined : new RegExp(regex) };
};

/** The rich errors a BatchAppend answers with, as the server writes them: a google.rpc.Status packing the reason. */
export const wrongExpectedVersionStatus = (expected: ExpectedState, current: bigint | undefined): Status => {
  const details = new WrongExpectedVersion();
  if (current === undefined) details.setCurrentNoStream(new GoogleEmpty());
  else details.setCurrentStreamRevision(current.toString());
  switch (expected.kind) {
    case 'revision':
      details.setExpectedStreamPosition(expected.revision.toString());
      break;
    case 'no_stream':
      details.setExpectedNoStream(new GoogleEmpty());
      break;
    case 'stream_exists':
      details.setExpectedStreamExists(new GoogleEmpty());
      break;
    case 'any':
      details.setExpectedAny(new GoogleEmpty());
      break;
  }
  const any = packed(details, 'event_store.client.WrongExpectedVersion');
  return new Status().setCode(Code.ALREADY_EXISTS).setMessage('WrongExpectedVersion').setDetails(any);
};

const packed = (message: { serializeBinary(): Uint8Array }, typeName: string): Any => {
  const any = new Any();
  any.pack(message.serializeBinary(), typeName);
  return any;
};

export const timeoutStatus = (): Status =>
  new Status().setCode(Code.DEADLINE_EXCEEDED).setMessage('Timeout').setDetails(packed(new GoogleEmpty(), 'event_store.client.Timeout'));

export const maximumAppendSizeExceededStatus = (maxAppendSize: number): Status =>
  new Status()
    .setCode(Code.INVALID_ARGUMENT)
    .setMessage('MaximumAppendSizeExceeded')
    .setDetails(packed(new MaximumAppendSizeExceeded().setMaxappendsize(maxAppendSize), 'event_store.client.MaximumAppendSizeExceeded'));

/** What the server counts against its maximum append size: data, metadata and the type in UTF-16. */
export const sizeOnDisk = (event: ProposedEvent): number => event.data.length + event.customMetadata.length + event.type.length * 2;

export const appendExpectation = (options: AppendReq.Options): ExpectedState => {
  const C = AppendReq.Options.ExpectedStreamRevisionCase;
  switch (options.getExpectedStreamRevisionCase()) {
    case C.REVISION:
      return { kind: 'revision', revision: BigInt(options.getRevision()) };
    case C.NO_STREAM:
      return { kind: 'no_stream' };
    case C.STREAM_EXISTS:
      return { kind: 'stream_exists' };
    default:
      return { kind: 'any' };
  }
};

export const batchAppendExpectation = (options: BatchAppendReq.Options): ExpectedState => {
  const C = BatchAppendReq.Options.ExpectedStreamPositionCase;
  switch (options.getExpectedStreamPositionCase()) {
    case C.STREAM_POSITION:
      return { kind: 'revision', revision: BigInt(options.getStreamPosition()) };
    case C.NO_STREAM:
      return { kind: 'no_stream' };
    case C.STREAM_EXISTS:
      return { kind: 'stream_exists' };
    default:
      return { kind: 'any' };
  }
};

export const appendResponse = (outcome: AppendOutcome, expected: ExpectedState): AppendResp => {
  if (outcome.kind === 'wrong_expected_version') {
    const wrong = new AppendResp.WrongExpectedVersion();
    if (outcome.currentRevision === undefined) wrong.setCurrentNoStream(new Empty()).setNoStream2060(new Empty());
    else wrong.setCurrentRevision(outcome.currentRevision.toString()).setCurrentRevision2060(Number(outcome.currentRevision));
    if (expected.kind === 'revision') wrong.setExpectedRevision(expected.revision.toString()).setExpectedRevision2060(Number(expected.revision));
    if (expected.kind === 'no_stream') wrong.setExpectedNoStream(new Empty());
    if (expected.kind === 'stream_exists') wrong.setExpectedStreamExists(new Empty()).setStreamExists2060(new Empty());
    if (expected.kind === 'any') wrong.setExpectedAny(new Empty()).setAny2060(new Empty());
    return new AppendResp().setWrongExpectedVersion(wrong);
  }
  const success = new AppendResp.Success()
    .setCurrentRevision(outcome.lastRevision.toString())
    .setPosition(new AppendResp.Position().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()));
  return new AppendResp().setSuccess(success);
};
