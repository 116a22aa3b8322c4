import { parseArgs } from 'node:util';
import { eventsBehind } from '@flash/event-store';
import { analyticsProjection, CHECKPOINT_COLLECTION, checkpointId, DocumentStore, Projection, readActiveGeneration, rebuildGeneration } from '@flash/read-models';
import { CommandIo, CommandResult, LogSource, openDocumentStore, openLogSource, progressBar, READ_MODELS_FILE, resolveDataDir, UsageError } from '@flash/runtime';

export const USAGE = `usage: npm run projections -- <command> [options]

  status [--data-dir DIR]
      each projection's active generation, checkpoint and lag, as JSON
  rebuild NAME [--data-dir DIR]
      build a fresh generation of NAME from the start of the log, then switch queries to it (blue/green);
      a running server follows the switch within seconds and drops the old generation a minute later

  projections: ${analyticsProjection.name}
  --data-dir defaults to DATA_DIR, else ./data; the event store (EVENTSTORE_URL, else DATA_DIR) is opened read-only; MONGO_URL selects MongoDB
  for the read models, else DATA_DIR/${READ_MODELS_FILE}.
exit codes: 0 done, 2 usage error or nothing could be read`;

const PROJECTIONS: readonly Projection[] = [analyticsProjection];

/**
 * Events of the projection's types folded per batch by a rebuild: each changed document is written once per batch,
 * with the checkpoint, in one transaction, in key order. Far larger than a live batch (PROJECTION_BATCH_SIZE): nobody
 * reads the fresh generation before the switch, and a rebuild starts over from position 0 anyway. Documents are
 * keyed by random order ids, so every batch touches leaves all over the B-tree: fewer batches, fewer rewrites of
 * the same pages. A million events hold a few hundred thousand documents in memory.
 */
export const REBUILD_BATCH_SIZE = 1_000_000;

/** The event store read-only and the read models' store, open for `work`, closed after it whatever happens. */
const withStores = async <T>(dataDir: string, env: NodeJS.ProcessEnv, work: (log: LogSource, docs: DocumentStore) => Promise<T>): Promise<T> => {
  const log = await openLogSource(dataDir, env);
  try {
    const docs = await openDocumentStore({ dataDir, mongoUrl: env.MONGO_URL || undefined });
    try {
      return await work(log, docs);
    } finally {
      await docs.close();
    }
  } finally {
    await log.close();
  }
};

const parse = (args: string[], positionals: number) => {
  try {
    const parsed = parseArgs({ args, options: { 'data-dir': { type: 'string' } }, allowPositionals: positionals > 0, strict: true });
    if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument ${String(parsed.positionals[positionals])}`);
    return parsed;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
};

/** Parses the command line and runs one command. */
export const runProjections = async (argv: string[], io: CommandIo): Promise<CommandResult> => {
  const [command, ...args] = argv;
  switch (command) {
    case 'status': {
      const { values } = parse(args, 0);
      return withStores(resolveDataDir(values['data-dir'], io.env), io.env, async ({ store }, docs) => {
        const head = await store.headPosition();
        const report = [];
        for (const projection of PROJECTIONS) {
          const generation = await readActiveGeneration(docs, projection.name);
          const checkpoint = generation === undefined ? undefined : await docs.get(CHECKPOINT_COLLECTION, checkpointId(projection.name, generation));
          const position = typeof checkpoint?.position === 'number' ? checkpoint.position : 0;
          report.push({ projection: projection.name, generation: generation ?? null, position, head, lagEvents: await eventsBehind(store, position, head) });
        }
        return { exitCode: 0, report };
      });
    }
    case 'rebuild': {
      const { values, positionals } = parse(args, 1);
      const name = positionals[0];
      if (name === undefined) throw new UsageError('rebuild needs the name of a projection');
      const projection = PROJECTIONS.find((p) => p.name === name);
      if (!projection) throw new UsageError(`unknown projection "${name}"; one of ${PROJECTIONS.map((p) => p.name).join(', ')}`);
      const dataDir = resolveDataDir(values['data-dir'], io.env);
      return withStores(dataDir, io.env, async ({ store, reader }, docs) => {
        const started = Date.now();
        // The same log as `store`, read sequentially: large pages of the projection's event types only.
        const head = await reader.headPosition();
        const bar = progressBar(io, `rebuild ${name}`, head);
        let read = 0;
        const fresh = await rebuildGeneration(store, docs, projection, {
          batchSize: REBUILD_BATCH_SIZE,
          idleMs: 50,
          now: Date.now,
          onBatch: (progress) => bar.update(read, progress.position),
          onRead: (position, events) => bar.update((read += events), position),
          logReader: reader,
        });
        bar.finish();
        const elapsedMs = Date.now() - started;
        const { position } = fresh.progress();
        const events = await eventsBehind(store, 0, position, Number.POSITIVE_INFINITY);
        return {
          exitCode: 0,
          // Events counted, not read off the position: positions may be sparse (EventStoreDB).
          report: { projection: name, generation: fresh.generation, position, events, elapsedMs, eventsPerSecond: elapsedMs > 0 ? Math.round((events * 1000) / elapsedMs) : events },
        };
      });
    }
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
};

