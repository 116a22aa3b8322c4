/**
 * TEST-ONLY stand-in for a MongoDB server. It is NOT MongoDB.
 *
 * It speaks just enough of the MongoDB wire protocol (OP_MSG, plus the legacy OP_QUERY handshake the driver opens
 * with) for the commands our MongoDocumentStore and its tests send through the real `mongodb` driver, keeps the
 * documents in memory, and evaluates filters, pipelines and update operators with mingo. No auth, no TLS, no
 * compression, no sessions or transactions, no real indexes (createIndexes only records them), no `$out`/`$merge`.
 * Its job is to test the adapter's use of the driver where no mongod is available; MONGO_URL runs the same tests
 * against a real server.
 *
 * Test hook: `aggregateDelayMs` makes every aggregate wait that long first, so a `maxTimeMS` below it expires
 * (answered as the server does: code 50, MaxTimeMSExpired).
 */
import net from 'node:net';
import { Document, EJSON, Long, ObjectId, deserialize, serialize } from 'bson';
import { Aggregator, Query, update as applyUpdateOperators } from 'mingo';
import { freePort } from './free-port';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const CHECKSUM_PRESENT = 1;
const MORE_TO_COME = 2;
/** The server's default first batch. */
const DEFAULT_BATCH_SIZE = 101;
const ID_INDEX = { v: 2, key: { _id: 1 }, name: '_id_' };

class CommandFailure extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

interface StoredCollection {
  /** By canonical Extended JSON of `_id`; a Map keeps insertion order, which stands in for natural order. */
  readonly docs: Map<string, Document>;
  readonly indexes: Document[];
}

interface OpenCursor {
  readonly ns: string;
  remaining: Document[];
}

type CommandHandler = (command: Document, db: string) => Document | Promise<Document>;

export class MongoStandIn {
  /** Test hook: every aggregate waits this long before running (see the header). */
  aggregateDelayMs = 0;
  private port = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly databases = new Map<string, Map<string, StoredCollection>>();
  private readonly cursors = new Map<number, OpenCursor>();
  private nextCursorId = 1;
  private nextConnectionId = 1;
  private nextRequestId = 1;

  get url(): string {
    return `mongodb://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- wire protocol ----

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    const connectionId = this.nextConnectionId++;
    let pending = Buffer.alloc(0);
    let answered = Promise.resolve(); // replies go out in request order even when a command waits
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const message = pending.subarray(0, pending.readInt32LE(0));
        pending = pending.subarray(message.length);
        answered = answered
          .then(() => this.answer(message, connectionId))
          .then(
            (reply) => {
              if (reply && !socket.destroyed) socket.write(reply);
            },
            () => {
              socket.destroy(); // a message we cannot read: drop the connection, as a server would
            },
          );
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }

  private async answer(message: Buffer, connectionId: number): Promise<Buffer | undefined> {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // flags(4) fullCollectionName(cstring) numberToSkip(4) numberToReturn(4) query(document)
      const nsEnd = message.indexOf(0, 20);
      const db = message.toString('utf8', 20, nsEnd).split('.')[0] ?? 'admin';
      const command = readDocument(message, nsEnd + 9);
      return this.frameOpReply(requestId, await this.run({ ...command, $db: db }, connectionId));
    }
    if (opCode !== OP_MSG) throw new Error(`unsupported opCode ${opCode}`);
    const flags = message.readUInt32LE(16);
    const end = message.length - (flags & CHECKSUM_PRESENT ? 4 : 0);
    let command: Document = {};
    const sequences: Document = {};
    for (let offset = 20; offset < end; ) {
      const kind = message.readUInt8(offset);
      if (kind === 0) {
        command = readDocument(message, offset + 1);
        offset += 1 + message.readInt32LE(offset + 1);
      } else if (kind === 1) {
        // A document sequence: size(4) identifier(cstring) documents…; bulk writes send documents/updates/deletes so.
        const sectionEnd = offset + 1 + message.readInt32LE(offset + 1);
        const idEnd = message.indexOf(0, offset + 5);
        const documents: Document[] = [];
        for (let at = idEnd + 1; at < sectionEnd; at += message.readInt32LE(at)) documents.push(readDocument(message, at));
        sequences[message.toString('utf8', offset + 5, idEnd)] = documents;
        offset = sectionEnd;
      } else throw new Error(`unknown OP_MSG section kind ${kind}`);
    }
    const reply = await this.run({ ...command, ...sequences }, connectionId);
    return flags & MORE_TO_COME ? undefined : this.frameOpMsg(requestId, reply);
  }

  private frameOpMsg(responseTo: number, body: Document): Buffer {
    const doc = serialize(body);
    const head = Buffer.alloc(21); // header(16) flagBits(4) section kind 0(1)
    this.writeHeader(head, 21 + doc.length, responseTo, OP_MSG);
    head.writeUInt32LE(0, 16);
    head.writeUInt8(0, 20);
    return Buffer.concat([head, doc]);
  }

  private frameOpReply(responseTo: number, body: Document): Buffer {
    const doc = serialize(body);
    const head = Buffer.alloc(36); // header(16) responseFlags(4) cursorID(8) startingFrom(4) numberReturned(4)
    this.writeHeader(head, 36 + doc.length, responseTo, OP_REPLY);
    head.writeInt32LE(1, 32);
    return Buffer.concat([head, doc]);
  }

  private writeHeader(head: Buffer, length: number, responseTo: number, opCode: number): void {
    head.writeInt32LE(length, 0);
    head.writeInt32LE(this.nextRequestId++, 4);
    head.writeInt32LE(responseTo, 8);
    head.writeInt32LE(opCode, 12);
  }

  // ---- commands ----

  private async run(command: Document, connectionId: number): Promise<Document> {
    const name = Object.keys(command)[0] ?? '';
    const db = typeof command.$db === 'string' ? command.$db : 'admin';
    const handler = name === 'hello' || name === 'isMaster' || name === 'ismaster' ? () => this.hello(connectionId) : this.handlers[name];
    if (!handler) return { ok: 0, errmsg: `no such command: '${name}'`, code: 59, codeName: 'CommandNotFound' };
    try {
      return { ...(await handler(command, db)), ok: 1 };
    } catch (error) {
      if (error instanceof CommandFailure) return { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName };
      return { ok: 0, errmsg: error instanceof Error ? error.message : String(error), code: 2, codeName: 'BadValue' };
    }
  }

  private hello(connectionId: number): Document {
    return {
      helloOk: true,
      ismaster: true,
      isWritablePrimary: true,
      maxBsonObjectSize: 16 * 1024 * 1024,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId,
      minWireVersion: 0,
      maxWireVersion: 21, // MongoDB 7.0
      readOnly: false,
    };
  }

  private readonly handlers: Record<string, CommandHandler | undefined> = {
    ping: () => ({}),
    buildInfo: () => ({ version: '7.0.0-standin', versionArray: [7, 0, 0, 0] }),
    endSessions: () => ({}),

    listCollections: (command, db) => {
      const infos = [...this.collectionsIn(db).keys()].map((name) => ({ name, type: 'collection', options: {}, info: { readOnly: false }, idIndex: ID_INDEX }));
      const matching = runPipeline(infos, [{ $match: asDocument(command.filter) }]);
      const rows = command.nameOnly === true ? matching.map(({ name, type }) => ({ name, type })) : matching;
      return this.openCursor(`${db}.$cmd.listCollections`, rows, asDocument(command.cursor).batchSize);
    },

    find: (command, db) => {
      const name = String(command.find);
      const pipeline: Document[] = [{ $match: asDocument(command.filter) }];
      if (Object.keys(asDocument(command.sort)).length > 0) pipeline.push({ $sort: command.sort });
      if (Number(command.skip ?? 0) > 0) pipeline.push({ $skip: command.skip });
      if (Number(command.limit ?? 0) !== 0) pipeline.push({ $limit: Math.abs(Number(command.limit)) });
      if (Object.keys(asDocument(command.projection)).length > 0) pipeline.push({ $project: command.projection });
      const rows = runPipeline(this.snapshot(db, name), pipeline);
      return this.openCursor(`${db}.${name}`, rows, command.batchSize, command.singleBatch === true);
    },

    aggregate: async (command, db) => {
      const name = String(command.aggregate);
      const maxTimeMs = Number(command.maxTimeMS ?? 0);
      const startedAt = Date.now();
      if (maxTimeMs > 0 && this.aggregateDelayMs >= maxTimeMs) {
        await sleep(maxTimeMs);
        throw timeLimitExceeded();
      }
      if (this.aggregateDelayMs > 0) await sleep(this.aggregateDelayMs);
      const rows = runPipeline(this.snapshot(db, name), asDocuments(command.pipeline));
      if (maxTimeMs > 0 && Date.now() - startedAt > maxTimeMs) throw timeLimitExceeded();
      return this.openCursor(`${db}.${name}`, rows, asDocument(command.cursor).batchSize);
    },

    getMore: (command) => {
      const id = Number(command.getMore);
      const cursor = this.cursors.get(id);
      if (!cursor) throw new CommandFailure(43, 'CursorNotFound', `cursor id ${id} not found`);
      const size = command.batchSize === undefined ? cursor.remaining.length : Number(command.batchSize);
      const nextBatch = cursor.remaining.slice(0, size);
      cursor.remaining = cursor.remaining.slice(size);
      const exhausted = cursor.remaining.length === 0;
      if (exhausted) this.cursors.delete(id);
      return { cursor: { nextBatch, id: Long.fromNumber(exhausted ? 0 : id), ns: cursor.ns } };
    },

    killCursors: (command) => {
      const ids = (Array.isArray(command.cursors) ? command.cursors : []).map(Number);
      const killed = ids.filter((id) => this.cursors.delete(id));
      const notFound = ids.filter((id) => !killed.includes(id));
      return { cursorsKilled: killed.map((id) => Long.fromNumber(id)), cursorsNotFound: notFound.map((id) => Long.fromNumber(id)), cursorsAlive: [], cursorsUnknown: [] };
    },

    insert: (command, db) => {
      const collection = this.createCollection(db, String(command.insert));
      const writeErrors: Document[] = [];
      let n = 0;
      for (const [index, doc] of asDocuments(command.documents).entries()) {
        const stored = doc._id === undefined ? { _id: new ObjectId(), ...doc } : doc; // the server adds a missing _id
        const key = idKey(stored._id);
        if (collection.docs.has(key)) {
          writeErrors.push(duplicateKeyError(index, String(command.insert), stored._id));
          if (command.ordered !== false) break;
        } else {
          collection.docs.set(key, stored);
          n += 1;
        }
      }
      return writeErrors.length > 0 ? { n, writeErrors } : { n };
    },

    update: (command, db) => {
      const name = String(command.update);
      const upserted: Document[] = [];
      const writeErrors: Document[] = [];
      let n = 0;
      let nModified = 0;
      for (const [index, statement] of asDocuments(command.updates).entries()) {
        try {
          const outcome = this.updateOne(db, name, statement);
          n += outcome.matched;
          nModified += outcome.modified;
          if (outcome.upsertedId !== undefined) {
            n += 1; // the server counts an upsert in n, not in nModified
            upserted.push({ index, _id: outcome.upsertedId });
          }
        } catch (error) {
          writeErrors.push(writeError(index, error));
          if (command.ordered !== false) break;
        }
      }
      return { n, nModified, ...(upserted.length > 0 ? { upserted } : {}), ...(writeErrors.length > 0 ? { writeErrors } : {}) };
    },

    delete: (command, db) => {
      const collection = this.collectionsIn(db).get(String(command.delete));
      let n = 0;
      for (const statement of asDocuments(command.deletes)) {
        for (const [key] of matching(collection, asDocument(statement.q))) {
          collection?.docs.delete(key);
          n += 1;
          if (statement.limit === 1) break;
        }
      }
      return { n };
    },

    create: (command, db) => {
      if (this.collectionsIn(db).has(String(command.create))) throw new CommandFailure(48, 'NamespaceExists', `Collection ${db}.${String(command.create)} already exists.`);
      this.createCollection(db, String(command.create));
      return {};
    },

    drop: (command, db) => {
      const name = String(command.drop);
      const collection = this.collectionsIn(db).get(name);
      if (!collection) throw new CommandFailure(26, 'NamespaceNotFound', 'ns not found');
      this.collectionsIn(db).delete(name);
      return { ns: `${db}.${name}`, nIndexesWas: collection.indexes.length };
    },

    dropDatabase: (_command, db) => {
      this.databases.delete(db);
      return { dropped: db };
    },

    createIndexes: (command, db) => {
      const name = String(command.createIndexes);
      const createdCollectionAutomatically = !this.collectionsIn(db).has(name);
      const collection = this.createCollection(db, name);
      const numIndexesBefore = collection.indexes.length;
      for (const spec of asDocuments(command.indexes)) {
        const sameName = collection.indexes.find((index) => index.name === spec.name);
        const sameKeys = collection.indexes.find((index) => sameBson(index.key, spec.key));
        if (sameName && !sameBson(sameName.key, spec.key)) throw new CommandFailure(86, 'IndexKeySpecsConflict', `An existing index has the same name as the requested index: ${String(spec.name)}`);
        if (sameKeys && sameKeys !== sameName) throw new CommandFailure(85, 'IndexOptionsConflict', `Index already exists with a different name: ${String(sameKeys.name)}`);
        if (!sameName) collection.indexes.push({ v: 2, key: spec.key, name: spec.name });
      }
      return { numIndexesBefore, numIndexesAfter: collection.indexes.length, createdCollectionAutomatically };
    },

    listIndexes: (command, db) => {
      const name = String(command.listIndexes);
      const collection = this.collectionsIn(db).get(name);
      if (!collection) throw new CommandFailure(26, 'NamespaceNotFound', `ns does not exist: ${db}.${name}`);
      return this.openCursor(`${db}.${name}`, collection.indexes, asDocument(command.cursor).batchSize);
    },

    count: (command, db) => {
      const pipeline: Document[] = [{ $match: asDocument(command.query) }];
      if (Number(command.skip ?? 0) > 0) pipeline.push({ $skip: command.skip });
      if (Number(command.limit ?? 0) !== 0) pipeline.push({ $limit: Math.abs(Number(command.limit)) });
      return { n: runPipeline(this.snapshot(db, String(command.count)), pipeline).length };
    },
  };

  /** One statement of an `update` command: a replacement or update operators, on one document or all (`multi`). */
  private updateOne(db: string, name: string, statement: Document): { matched: number; modified: number; upsertedId?: unknown } {
    if (Array.isArray(statement.u)) throw new CommandFailure(2, 'BadValue', 'the stand-in does not support pipeline updates');
    const change = asDocument(statement.u);
    const isReplacement = !(Object.keys(change)[0] ?? '').startsWith('$'); // the first field decides, as on the server
    if (!isReplacement) checkOperatorPaths(change);
    const collection = this.collectionsIn(db).get(name);
    const matches = matching(collection, asDocument(statement.q));
    const targets = statement.multi === true ? matches : matches.slice(0, 1);
    let modified = 0;
    for (const [key, doc] of targets) {
      const next = isReplacement ? replaceKeepingId(doc, change) : withOperators(doc, change, false);
      if (sameBson(doc, next)) continue;
      collection?.docs.set(key, next);
      modified += 1;
    }
    if (targets.length > 0 || statement.upsert !== true) return { matched: targets.length, modified };

    const seed = equalityFields(asDocument(statement.q));
    const built = isReplacement ? { ...(seed._id === undefined ? {} : { _id: seed._id }), ...change } : withOperators(seed, change, true);
    const created = built._id === undefined ? { _id: new ObjectId(), ...built } : built;
    this.createCollection(db, name).docs.set(idKey(created._id), created);
    return { matched: 0, modified: 0, upsertedId: created._id };
  }

  private openCursor(ns: string, rows: Document[], batchSize: unknown, singleBatch = false): Document {
    const size = batchSize === undefined ? DEFAULT_BATCH_SIZE : Number(batchSize);
    const firstBatch = rows.slice(0, size);
    let id = 0;
    if (rows.length > size && !singleBatch) {
      id = this.nextCursorId++;
      this.cursors.set(id, { ns, remaining: rows.slice(size) });
    }
    return { cursor: { firstBatch, id: Long.fromNumber(id), ns } };
  }

  private collectionsIn(db: string): Map<string, StoredCollection> {
    let collections = this.databases.get(db);
    if (!collections) this.databases.set(db, (collections = new Map()));
    return collections;
  }

  private createCollection(db: string, name: string): StoredCollection {
    const collections = this.collectionsIn(db);
    let collection = collections.get(name);
    if (!collection) collections.set(name, (collection = { docs: new Map(), indexes: [ID_INDEX] }));
    return collection;
  }

  /** Copies, so a pipeline can never change what is stored. */
  private snapshot(db: string, name: string): Document[] {
    return [...(this.collectionsIn(db).get(name)?.docs.values() ?? [])].map(cloneDocument);
  }
}

// ---- helpers ----

function readDocument(buffer: Buffer, offset: number): Document {
  return deserialize(buffer.subarray(offset, offset + buffer.readInt32LE(offset)));
}

/** The stored [key, document] pairs a filter matches; `{_id: value}` is looked up directly instead of scanned. */
function matching(collection: StoredCollection | undefined, filter: Document): [string, Document][] {
  if (!collection) return [];
  const fields = Object.keys(filter);
  if (fields.length === 1 && fields[0] === '_id' && !hasOperators(filter._id)) {
    const key = idKey(filter._id);
    const doc = collection.docs.get(key);
    return doc ? [[key, doc]] : [];
  }
  const query = new Query(filter);
  return [...collection.docs].filter(([, doc]) => query.test(doc));
}

function runPipeline(docs: Document[], pipeline: Document[]): Document[] {
  return new Aggregator(pipeline).run(docs);
}

const cloneDocument = (doc: Document): Document => deserialize(serialize(doc));
const sameBson = (a: unknown, b: unknown): boolean => Buffer.from(serialize({ v: a })).equals(serialize({ v: b }));
const idKey = (id: unknown): string => EJSON.stringify({ id }, { relaxed: false });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const isDocument = (value: unknown): value is Document => typeof value === 'object' && value !== null && !Array.isArray(value);
const hasOperators = (value: unknown): boolean => isDocument(value) && Object.keys(value).some((key) => key.startsWith('$'));
const asDocument = (value: unknown): Document => (isDocument(value) ? value : {});
const asDocuments = (value: unknown): Document[] => (Array.isArray(value) ? value.filter(isDocument) : []);

function timeLimitExceeded(): CommandFailure {
  return new CommandFailure(50, 'MaxTimeMSExpired', 'operation exceeded time limit');
}

function duplicateKeyError(index: number, collection: string, id: unknown): Document {
  return { index, code: 11000, errmsg: `E11000 duplicate key error collection: ${collection} index: _id_ dup key: ${EJSON.stringify({ _id: id })}` };
}

function writeError(index: number, error: unknown): Document {
  if (error instanceof CommandFailure) return { index, code: error.code, errmsg: error.message };
  return { index, code: 2, errmsg: error instanceof Error ? error.message : String(error) };
}

function replaceKeepingId(doc: Document, replacement: Document): Document {
  if (replacement._id !== undefined && !sameBson(replacement._id, doc._id)) {
    throw new CommandFailure(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
  }
  const { _id: _sameId, ...fields } = replacement;
  return { _id: doc._id, ...fields }; // _id first, as the server stores it
}

/** Applies update operators to a copy; `$setOnInsert` only when the document is being inserted. */
function withOperators(doc: Document, change: Document, inserting: boolean): Document {
  const next = cloneDocument(doc);
  const { $setOnInsert, ...operators } = change;
  if (inserting && isDocument($setOnInsert) && Object.keys($setOnInsert).length > 0) applyUpdateOperators(next, { $set: $setOnInsert });
  const nonEmpty = Object.fromEntries(Object.entries(operators).filter(([, fields]) => Object.keys(asDocument(fields)).length > 0));
  if (Object.keys(nonEmpty).length > 0) applyUpdateOperators(next, nonEmpty);
  return next;
}

/** As the server does: one update may not name a path twice, or a path and its parent, across its operators. */
function checkOperatorPaths(change: Document): void {
  const paths = Object.values(change).flatMap((fields) => Object.keys(asDocument(fields)));
  for (const [i, a] of paths.entries()) {
    const clash = paths.slice(i + 1).find((b) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`));
    if (clash !== undefined) throw new CommandFailure(40, 'ConflictingUpdateOperators', `Updating the path '${a}' would create a conflict at '${clash}'`);
  }
}

/** The fields an upsert copies from its filter: plain equalities and `$eq` (not those under `$and`/`$or`). */
function equalityFields(filter: Document): Document {
  const equalities: Document = {};
  for (const [field, value] of Object.entries(filter)) {
    if (field.startsWith('$')) continue;
    if (!hasOperators(value)) equalities[field] = value;
    else if (isDocument(value) && '$eq' in value) equalities[field] = value.$eq;
  }
  const { _id, ...others } = equalities;
  const seed: Document = _id === undefined ? {} : { _id }; // mingo refuses to $set _id
  if (Object.keys(others).length > 0) applyUpdateOperators(seed, { $set: others }); // dotted paths become nested
  return seed;
}
