import { MongoClient, MongoServerError } from 'mongodb';
import { MongoStandIn } from './mongo-standin';

/** The test-only stand-in, driven through the real `mongodb` driver, so the adapter's tests can trust it. */
describe('MongoStandIn (test-only wire stand-in, not MongoDB) through the mongodb driver', () => {
  const standIn = new MongoStandIn();
  let client: MongoClient;
  let dbCount = 0;
  const commandsSent: string[] = [];
  const freshDb = () => client.db(`standin_${++dbCount}`);

  beforeAll(async () => {
    await standIn.start();
    client = new MongoClient(standIn.url, { serverSelectionTimeoutMS: 2000, monitorCommands: true });
    client.on('commandStarted', (event) => commandsSent.push(event.commandName));
    await client.connect();
  });

  afterAll(async () => {
    await client.close();
    await standIn.stop();
  });

  afterEach(() => {
    standIn.aggregateDelayMs = 0;
  });

  it('answers the handshake and ping', async () => {
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect(await client.db('admin').command({ hello: 1 })).toMatchObject({ ok: 1, isWritablePrimary: true });
  });

  it('inserts and finds with filter, sort, projection and limit', async () => {
    const people = freshDb().collection<{ _id: string; age: number; city: string }>('people');
    const inserted = await people.insertMany([
      { _id: 'a', age: 30, city: 'x' },
      { _id: 'b', age: 20, city: 'y' },
      { _id: 'c', age: 40, city: 'x' },
    ]);
    expect(inserted.insertedCount).toBe(3);
    expect(await people.find({ city: 'x' }).sort({ age: -1 }).toArray()).toEqual([
      { _id: 'c', age: 40, city: 'x' },
      { _id: 'a', age: 30, city: 'x' },
    ]);
    expect(await people.find({}, { projection: { age: 1 } }).sort({ age: 1 }).limit(1).toArray()).toEqual([{ _id: 'b', age: 20 }]);
    expect(await people.findOne({ _id: 'zzz' })).toBeNull();
    await expect(people.insertOne({ _id: 'a', age: 1, city: 'z' })).rejects.toMatchObject({ code: 11000 });
  });

  it('gives a server-generated-style ObjectId when _id is missing', async () => {
    const things = freshDb().collection('things');
    const { insertedId } = await things.insertOne({ v: 1 });
    expect(await things.findOne({ _id: insertedId })).toEqual({ _id: insertedId, v: 1 });
  });

  it('aggregates, and pages through getMore with a small batch size', async () => {
    const numbers = freshDb().collection<{ _id: number; even: boolean }>('numbers');
    await numbers.insertMany(Array.from({ length: 25 }, (_, i) => ({ _id: i, even: i % 2 === 0 })));
    const grouped = await numbers.aggregate([{ $group: { _id: '$even', n: { $sum: 1 } } }, { $sort: { _id: 1 } }]).toArray();
    expect(grouped).toEqual([
      { _id: false, n: 12 },
      { _id: true, n: 13 },
    ]);
    commandsSent.length = 0;
    const paged = await numbers.find({}, { batchSize: 4 }).toArray();
    expect(paged.map((d) => d._id)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    const pagedAggregate = await numbers.aggregate([{ $match: { even: true } }], { batchSize: 3 }).toArray();
    expect(pagedAggregate).toHaveLength(13);
    // A cursor closed early is killed on the server.
    const cursor = numbers.find({}, { batchSize: 2 });
    await cursor.next();
    await cursor.close();
    expect(commandsSent.filter((name) => name === 'getMore').length).toBeGreaterThanOrEqual(6 + 4);
    expect(commandsSent).toContain('killCursors');
    expect(await numbers.countDocuments({ even: false })).toBe(12);
    expect(await numbers.estimatedDocumentCount()).toBe(25);
  });

  it('upserts replacements and $inc/$setOnInsert with the counts the driver reports', async () => {
    const counters = freshDb().collection<{ _id: string; [field: string]: any }>('counters');
    const first = await counters.bulkWrite([
      { replaceOne: { filter: { _id: 'r' }, replacement: { v: 1 }, upsert: true } },
      { updateOne: { filter: { _id: 'c' }, update: { $inc: { n: 2 }, $setOnInsert: { kind: 'k' } }, upsert: true } },
      { updateOne: { filter: { _id: 'c' }, update: { $inc: { n: 3 }, $setOnInsert: { kind: 'ignored' } }, upsert: true } },
    ]);
    expect({ upserted: first.upsertedCount, matched: first.matchedCount, modified: first.modifiedCount }).toEqual({ upserted: 2, matched: 1, modified: 1 });
    expect(first.upsertedIds).toEqual({ 0: 'r', 1: 'c' });
    expect(await counters.findOne({ _id: 'c' })).toEqual({ _id: 'c', kind: 'k', n: 5 });

    const same = await counters.replaceOne({ _id: 'r' }, { v: 1 }, { upsert: true });
    expect({ matched: same.matchedCount, modified: same.modifiedCount, upserted: same.upsertedCount }).toEqual({ matched: 1, modified: 0, upserted: 0 });
    await counters.updateOne({ _id: 'r' }, { $set: { w: 2 } });
    expect(await counters.findOne({ _id: 'r' })).toEqual({ _id: 'r', v: 1, w: 2 });

    await expect(counters.updateOne({ _id: 'c' }, { $inc: { n: 1 }, $setOnInsert: { n: 0 } }, { upsert: true })).rejects.toMatchObject({ code: 40 });
    const deleted = await counters.deleteMany({ _id: { $in: ['r', 'c'] } });
    expect(deleted.deletedCount).toBe(2);
  });

  it('drops collections (a missing one is NamespaceNotFound on the wire), lists collections and indexes', async () => {
    const db = freshDb();
    await db.collection('kept').insertOne({ _id: 1 } as never);
    await db.collection('gone').insertOne({ _id: 1 } as never);
    expect(await db.collection('gone').drop()).toBe(true);
    expect(await db.collection('gone').drop()).toBe(false); // the driver swallows code 26
    await expect(db.command({ drop: 'gone' })).rejects.toMatchObject({ code: 26, codeName: 'NamespaceNotFound' });
    expect((await db.listCollections().toArray()).map((c) => c.name)).toEqual(['kept']);

    await db.collection('kept').createIndexes([{ name: 'by_t', key: { t: 1 } }]);
    await db.collection('kept').createIndexes([{ name: 'by_t', key: { t: 1 } }]); // again: a no-op
    expect((await db.collection('kept').listIndexes().toArray()).map((i) => i.name)).toEqual(['_id_', 'by_t']);
    await expect(db.collection('kept').createIndexes([{ name: 'by_t', key: { u: 1 } }])).rejects.toMatchObject({ code: 86 });
  });

  it('answers unknown commands with CommandNotFound', async () => {
    await expect(client.db('admin').command({ noSuchThing: 1 })).rejects.toMatchObject({ code: 59, codeName: 'CommandNotFound' });
  });

  it('fails an aggregate past maxTimeMS with code 50 (forced by the delay hook)', async () => {
    const slow = freshDb().collection('slow');
    await slow.insertOne({ _id: 1 } as never);
    standIn.aggregateDelayMs = 200;
    const error: unknown = await slow.aggregate([{ $match: {} }], { maxTimeMS: 50 }).toArray().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 50, codeName: 'MaxTimeMSExpired' });
    // Without a time limit the delay only slows it down.
    standIn.aggregateDelayMs = 20;
    expect(await slow.aggregate([{ $match: {} }]).toArray()).toEqual([{ _id: 1 }]);
  });
});
