import Database from 'better-sqlite3';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  decodeEvent,
  decodeLogEvent,
  LogEvent,
  LogPayload,
  NO_STREAM,
  RecordedEvent,
  schemaVersionOf,
  SqliteEventStore,
  SqliteLogReader,
} from '@flash/event-store';
import { makeEvent, streamName } from '../../test/event-store.contract';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-log-reader-'));
let fileCounter = 0;
const newFile = (): string => path.join(dir, `events-${++fileCounter}.sqlite`);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What decodeEvent reads from a RecordedEvent's metadata. */
const schemaVersionRead = (metadata: unknown): number => {
  const version = (metadata as { schemaVersion?: unknown }).schemaVersion;
  return typeof version === 'number' ? version : 1;
};

/** A RecordedEvent as the log reader hands it out. */
const asLogEvent = (r: RecordedEvent): LogEvent => ({
  position: r.position,
  streamId: r.streamId,
  revision: r.revision,
  eventId: r.eventId,
  type: r.type,
  data: r.data,
  schemaVersion: schemaVersionRead(r.metadata),
  recordedAt: r.recordedAt,
});

const asPayload = ({ position, type, data, schemaVersion, recordedAt }: LogEvent): LogPayload => ({ position, type, data, schemaVersion, recordedAt });

const TYPES = ['OrderPlaced', 'QuotaClaimed', 'Other'];

/** A store with `n` events over a few streams, of the types above, some with metadata written by other versions. */
const fillStore = async (file: string, n: number): Promise<SqliteEventStore> => {
  const store = new SqliteEventStore({ file, pollMs: 60_000 });
  const streams = [streamName(), streamName(), streamName()];
  const revisions = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const streamId = streams[i % streams.length] as string;
    const metadata = i % 7 === 3 ? { schemaVersion: 2, correlationId: `c${i}` } : i % 11 === 5 ? { userId: `u${i}`, schemaVersion: 1 } : {};
    const event = makeEvent(TYPES[i % TYPES.length], { i, nested: { list: [i, `x${i}`] } }, metadata);
    const expected = revisions.get(streamId) ?? NO_STREAM;
    const result = await store.append(streamId, [event], expected);
    revisions.set(streamId, result.nextExpectedRevision);
  }
  return store;
};

describe('SqliteLogReader', () => {
  const opened: Array<{ close(): unknown }> = [];
  const track = <T extends { close(): unknown }>(closeable: T): T => {
    opened.push(closeable);
    return closeable;
  };
  afterEach(async () => {
    for (const closeable of opened.splice(0).reverse()) await closeable.close();
  });

  it('reads the same events as readAll, in the same order, page after page', async () => {
    const file = newFile();
    const store = track(await fillStore(file, 103));
    const reader = track(new SqliteLogReader({ file }));
    const all = await store.readAll({ after: 0, maxCount: 1000 });

    expect(reader.headPosition()).toBe(103);
    const pages = [...reader.pages(0, 103, 10)];
    expect(pages.map((p) => p.events.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    expect(pages.flatMap((p) => p.events)).toEqual(all.map(asLogEvent));
    expect(pages.at(-1)?.through).toBe(103);
    // Without memory-mapping, the same.
    const unmapped = track(new SqliteLogReader({ file, mmapBytes: 0 }));
    expect([...unmapped.pages(0, 103, 64)].flatMap((p) => p.events)).toEqual(all.map(asLogEvent));
  });

  it('stops at upTo, reads nothing past it, and answers an empty range with no events', async () => {
    const file = newFile();
    const store = track(await fillStore(file, 30));
    const reader = track(new SqliteLogReader({ file }));
    const all = await store.readAll({ after: 0, maxCount: 1000 });

    const page = reader.readPage({ after: 5, upTo: 12, maxCount: 100 });
    expect(page.events).toEqual(all.slice(5, 12).map(asLogEvent));
    expect(page.through).toBe(12);
    expect(reader.readPage({ after: 12, upTo: 12, maxCount: 100 })).toEqual({ events: [], through: 12 });
    expect(() => reader.readPage({ after: 0, upTo: 12, maxCount: 0 })).toThrow(RangeError);
  });

  it('hands out only the types asked for, and `through` covers the events skipped for their type', async () => {
    const file = newFile();
    const store = track(await fillStore(file, 50));
    const reader = track(new SqliteLogReader({ file }));
    const all = await store.readAll({ after: 0, maxCount: 1000 });
    const wanted = all.filter((e) => e.type === 'OrderPlaced' || e.type === 'Other');

    const pages = [...reader.pages(0, 50, 7, ['OrderPlaced', 'Other'])];
    expect(pages.flatMap((p) => p.events)).toEqual(wanted.map(asLogEvent));
    // A full page ends at its last event; the last page covers the range to upTo, skipped events included.
    for (const p of pages.slice(0, -1)) expect(p.through).toBe(p.events.at(-1)?.position);
    expect(pages.at(-1)?.through).toBe(50);
    expect(reader.readPage({ after: 0, upTo: 50, maxCount: 10, types: [] })).toEqual({ events: [], through: 50 });
    // The payload variant: the same events without stream, revision and id.
    const payloads = reader.readPayloads({ after: 0, upTo: 50, maxCount: 1000, types: ['OrderPlaced', 'Other'] });
    expect(payloads.events).toEqual(wanted.map(asLogEvent).map(asPayload));
  });

  it('sees what a writer appends after it was opened, and never writes', async () => {
    const file = newFile();
    const store = track(await fillStore(file, 3));
    const reader = track(new SqliteLogReader({ file }));
    expect(reader.headPosition()).toBe(3);
    await store.append(streamName(), [makeEvent()], NO_STREAM);
    expect(reader.headPosition()).toBe(4);
    expect(reader.readPage({ after: 3, upTo: 4, maxCount: 10 }).events).toHaveLength(1);
    expect(() => new SqliteLogReader({ file: path.join(dir, 'missing.sqlite') })).toThrow();
  });

  it('decodes as decodeEvent does, upcasting, refusing unknown types and versions with the same errors', async () => {
    const file = newFile();
    const writer = track(new SqliteEventStore({ file, pollMs: 60_000 }));
    await writer.append(streamName(), [makeEvent('SaleClosed', { saleId: 's', closedAt: 1, reason: 'ended' })], NO_STREAM);
    await writer.append(streamName(), [makeEvent('SaleClosed', { saleId: 's', closedAt: 2, reason: 'ended' }, { schemaVersion: 9 })], NO_STREAM);
    await writer.append(streamName(), [makeEvent('NotAnEvent')], NO_STREAM);
    // Metadata the store never writes, put there by hand: JSON null.
    const raw = new Database(file);
    raw.prepare("UPDATE events SET metadata = 'null' WHERE position = 1").run();
    raw.close();
    const reader = track(new SqliteLogReader({ file }));
    // Read through a connection opened after the edit, as the audit's is.
    const store = track(new SqliteEventStore({ file, readonly: true }));
    const recorded = await store.readAll({ after: 0, maxCount: 10 });
    const logged = reader.readPage({ after: 0, upTo: 3, maxCount: 10 }).events;

    const outcome = (decode: () => unknown): unknown => {
      try {
        return { ok: decode() };
      } catch (error) {
        return { error: (error as Error).constructor.name, message: (error as Error).message };
      }
    };
    expect(logged.map((e) => outcome(() => decodeLogEvent(e)))).toEqual(recorded.map((e) => outcome(() => decodeEvent(e))));
    expect(logged.map((e) => outcome(() => decodeLogEvent(e)))).toEqual([
      { error: 'TypeError', message: expect.stringContaining('null') },
      { error: 'UnknownEventVersion', message: expect.any(String) },
      { error: 'UnknownEventType', message: expect.any(String) },
    ]);
  });

  it('throws for metadata that is not JSON, as readAll does', async () => {
    const file = newFile();
    track(await fillStore(file, 2));
    const raw = new Database(file);
    raw.prepare(`UPDATE events SET metadata = '{"a":1,"schemaVersion":1' WHERE position = 2`).run();
    raw.close();
    const reader = track(new SqliteLogReader({ file }));
    expect(() => reader.readPage({ after: 0, upTo: 2, maxCount: 10 })).toThrow(SyntaxError);
  });
});

describe('schemaVersionOf', () => {
  /** The reference: what decodeEvent reads after JSON.parse (null metadata: NaN, decodeLogEvent's marker). */
  const reference = (text: string): number => {
    const parsed = JSON.parse(text) as unknown;
    return parsed === null ? NaN : schemaVersionRead(parsed);
  };

  it('reads the version encodeEvent writes last, and anything else by parsing', () => {
    const cases = [
      '{"schemaVersion":1}',
      '{"correlationId":"c","userId":"u","decidedAt":1893456000003,"schemaVersion":1}',
      '{"a":1,"schemaVersion":12}',
      '{"a":"x\\\\","schemaVersion":3}',
      '{"a":"\\",\\"schemaVersion\\":7}","schemaVersion":2}',
      '{"schemaVersion":4,"a":1}',
      '{"x":{"schemaVersion":5}}',
      '{"schemaVersion":5,"schemaVersion":6}',
      '{"schemaVersion":"2"}',
      '{"schemaVersion":2.5}',
      '{"schemaVersion":-1}',
      '{"schemaVersion":1e3}',
      '{"schemaVersion":1 }',
      '{}',
      '5',
      '"text"',
      '[1,{"schemaVersion":3}]',
      'null',
    ];
    for (const text of cases) expect([text, schemaVersionOf(text)]).toEqual([text, reference(text)]);
    // Not JSON, and not ending as the store writes metadata: parsed, so it throws as readAll does.
    for (const bad of ['{"schemaVersion":01}', '{"a":1,"schemaVersion":1', 'x"schemaVersion":1}', '']) expect(() => schemaVersionOf(bad)).toThrow(SyntaxError);
    // The one thing given up: text that ends as the store writes it is not checked any further.
    expect(schemaVersionOf('{"a":,"schemaVersion":1}')).toBe(1);
  });

  it('agrees with JSON.parse on every metadata object, whatever its keys and values', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.oneof(fc.constant(undefined), fc.nat(), fc.jsonValue()), (fields, version) => {
        const metadata = version === undefined ? fields : { ...fields, schemaVersion: version };
        const text = JSON.stringify(metadata);
        expect(schemaVersionOf(text)).toEqual(reference(text));
      }),
      { numRuns: 2000 },
    );
  });
});
