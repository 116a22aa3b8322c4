/**
 * Which events of the TEST-ONLY EventStoreDB stand-in's log (NOT EventStoreDB) a read or a subscription starts with,
 * by the server's rules: a forward read includes the event at its starting position or revision, a backward read of
 * $all yields what lies before its position, and a subscription starts after the position or revision it is given.
 */
import { ReadReq } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb';
import { LoggedEvent } from './event-log';

export const readAll = (events: readonly LoggedEvent[], all: ReadReq.Options.AllOptions, backwards: boolean): LoggedEvent[] => {
  const C = ReadReq.Options.AllOptions.AllOptionCase;
  const position = all.getAllOptionCase() === C.POSITION ? BigInt(all.getPosition()!.getCommitPosition()) : undefined;
  if (!backwards) {
    if (all.getAllOptionCase() === C.END) return [];
    // Forwards from a position includes the event at that position.
    return position === undefined ? [...events] : events.filter((e) => e.position >= position);
  }
  if (all.getAllOptionCase() === C.START) return [];
  // Backwards from a position yields what lies before it.
  return (position === undefined ? [...events] : events.filter((e) => e.position < position)).reverse();
};

export const readStream = (stream: readonly LoggedEvent[], options: ReadReq.Options.StreamOptions, backwards: boolean): LoggedEvent[] => {
  const C = ReadReq.Options.StreamOptions.RevisionOptionCase;
  const revision = options.getRevisionOptionCase() === C.REVISION ? BigInt(options.getRevision()) : undefined;
  if (!backwards) {
    if (options.getRevisionOptionCase() === C.END) return [];
    return revision === undefined ? [...stream] : stream.filter((e) => e.revision >= revision);
  }
  if (options.getRevisionOptionCase() === C.START) return stream.slice(0, 1);
  return (revision === undefined ? [...stream] : stream.filter((e) => e.revision <= revision)).reverse();
};

/** A subscription from a position starts after it (the checkpoint it was given was already processed). */
export const subscriptionHistoryAll = (events: readonly LoggedEvent[], all: ReadReq.Options.AllOptions): readonly LoggedEvent[] => {
  const C = ReadReq.Options.AllOptions.AllOptionCase;
  switch (all.getAllOptionCase()) {
    case C.END:
      return [];
    case C.POSITION: {
      const position = BigInt(all.getPosition()!.getCommitPosition());
      return events.filter((e) => e.position > position);
    }
    default:
      return events;
  }
};

export const subscriptionHistoryStream = (stream: readonly LoggedEvent[], options: ReadReq.Options.StreamOptions): readonly LoggedEvent[] => {
  const C = ReadReq.Options.StreamOptions.RevisionOptionCase;
  switch (options.getRevisionOptionCase()) {
    case C.END:
      return [];
    case C.REVISION: {
      const revision = BigInt(options.getRevision());
      return stream.filter((e) => e.revision > revision);
    }
    default:
      return stream;
  }
};
