import { EventData, NO_STREAM, WrongExpectedRevision } from '../event-store.port';
import { AppendOutcomeUnknown, EsdbEventStore } from './esdb-event-store';
import { ClientConnection, ClientRecordedEvent, ClientResolvedEvent, EsdbClientModule } from './client-module';

/**
 * The unknown-outcome rules of the adapter's append, on a scripted connection: what a real server can do but the
 * stand-in cannot be made to (a retry that meets WrongExpectedVersion although the first attempt was written, e.g.
 * the server's "idempotent write not ready yet").
 */
const event = (id: string): EventData => ({ eventId: id, type: 'StockReserved', data: {}, metadata: { schemaVersion: 1 } });
const OURS = [event('00000000-0000-4000-8000-000000000001'), event('00000000-0000-4000-8000-000000000002')];

const stored = (id: string, revision: number, position: number): ClientResolvedEvent => ({
  event: { streamId: 'buyer-1', id, revision: BigInt(revision), type: 'StockReserved', created: 0, data: {}, metadata: { schemaVersion: 1 }, position: { commit: BigInt(position), prepare: BigInt(position) } } satisfies ClientRecordedEvent,
});

const commandError = (type: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(type), { type, ...extra });

const scripted = (answers: Array<() => Promise<{ nextExpectedRevision: bigint; position?: { commit: bigint; prepare: bigint } }>>, streamContent: ClientResolvedEvent[]) => {
  const calls = { appends: 0, sent: [] as unknown[] };
  const connection: ClientConnection = {
    appendToStream: (_name, events) => {
      calls.sent.push(events.map((e) => e.id));
      const answer = answers[calls.appends++];
      if (!answer) throw new Error('no more answers scripted');
      return answer();
    },
    readStream: async function* () {
      yield* streamContent;
    },
    // An empty $all: the head probe of connect() finds nothing.
    // eslint-disable-next-line require-yield
    readAll: async function* () {
      return;
    },
    subscribeToAll: () => {
      throw new Error('not used');
    },
    dispose: () => Promise.resolve(),
  };
  const client: EsdbClientModule = {
    packageName: 'scripted',
    START: 'start',
    END: 'end',
    FORWARDS: 'forwards',
    BACKWARDS: 'backwards',
    NO_STREAM: 'no_stream',
    connect: () => connection,
    expectedRevisionOption: (expected) => ({ expectedRevision: expected }),
    streamNameFilter: () => undefined,
    excludeSystemEvents: () => undefined,
    createdPrecisionMs: 1,
  };
  return { calls, open: () => EsdbEventStore.connect({ url: 'esdb://scripted', client, retryDelayMs: 1 }) };
};

describe('EsdbEventStore.append: unknown outcomes', () => {
  it('a retry that meets "wrong expected version" while our ids are stored where we put them is our success, with their revision and position', async () => {
    const { calls, open } = scripted(
      [() => Promise.reject(commandError('deadline-exceeded')), () => Promise.reject(commandError('wrong-expected-version', { actualVersion: 1n }))],
      [stored(OURS[0]?.eventId ?? '', 0, 500), stored(OURS[1]?.eventId ?? '', 1, 650)],
    );
    const store = await open();
    expect(await store.append('buyer-1', OURS, NO_STREAM)).toEqual({ nextExpectedRevision: 1, position: 650 });
    // Both attempts sent the same ids.
    expect(calls.sent).toEqual([OURS.map((e) => e.eventId), OURS.map((e) => e.eventId)]);
  });

  it('a retry that meets "wrong expected version" with other events in the stream is a conflict naming the actual revision', async () => {
    const { open } = scripted(
      [() => Promise.reject(commandError('unavailable')), () => Promise.reject(commandError('wrong-expected-version', { actualVersion: 1n }))],
      [stored('00000000-0000-4000-8000-0000000000aa', 0, 500), stored('00000000-0000-4000-8000-0000000000bb', 1, 650)],
    );
    const store = await open();
    const error = await store.append('buyer-1', OURS, NO_STREAM).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WrongExpectedRevision);
    expect(error).toMatchObject({ streamId: 'buyer-1', expected: NO_STREAM, actual: 1 });
  });

  it('a first attempt refused with "wrong expected version" is a conflict at once, without reading the stream', async () => {
    const { calls, open } = scripted([() => Promise.reject(commandError('wrong-expected-version', { actualVersion: 'no_stream' }))], [stored(OURS[0]?.eventId ?? '', 0, 500)]);
    const store = await open();
    const error = await store.append('buyer-1', OURS, 3).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'WrongExpectedRevision', expected: 3, actual: NO_STREAM });
    expect(calls.appends).toBe(1);
  });

  it('a definite refusal after an unanswered attempt is still an unknown outcome: the first attempt may be stored', async () => {
    const { open } = scripted([() => Promise.reject(commandError('deadline-exceeded')), () => Promise.reject(commandError('access-denied'))], []);
    const store = await open();
    await expect(store.append('buyer-1', OURS, NO_STREAM)).rejects.toBeInstanceOf(AppendOutcomeUnknown);
  });

  it('an answer without a position is completed by reading the last event appended', async () => {
    const { open } = scripted([() => Promise.resolve({ nextExpectedRevision: 1n })], [stored(OURS[1]?.eventId ?? '', 1, 650)]);
    const store = await open();
    expect(await store.append('buyer-1', OURS, NO_STREAM)).toEqual({ nextExpectedRevision: 1, position: 650 });
  });
});
