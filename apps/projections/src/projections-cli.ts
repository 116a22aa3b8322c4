import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  analyticsProjection,
  CHECKPOINT_COLLECTION,
  checkpointId,
  DocumentStore,
  MongoDocumentStore,
  Projection,
  readActiveGeneration,
  rebuildGeneration,
  SqliteDocumentStore,
} from '@flash/read-models';
import { READ_MODELS_FILE } from '../../api/src/analytics/read-models-file';
import { CommandIo, CommandResult, UsageError } from '../../audit/src/command';
import { openLogReadOnly, resolveDataDir } from '../../audit/src/log-source';
import { progressBar } from '../../audit/src/progress';

export const USAGE = `usage: npm run projections -- <command> [options]

  status [--data-dir DIR]
      each projection's active generation, checkpoint and lag, as JSON
  rebuild NAME [--data-dir DIR]
      build a fresh generation of NAME from the start of the log, then switch queries to it (blue/green);
      a running server follows the switch within seconds and drops the old generation a minute later

  projections: ${analyticsProjection.name}
  --data-dir defaults to DATA_DIR, else ./data; the event store is opened read-only; MONGO_URL selects MongoDB
  for the read models, else DATA_DIR/${READ_MODELS_FILE}.
exit codes: 0 done, 2 usage error or nothing could be read`;

const PROJECTIONS: readonly Projection[] = [analyticsProjection];

const openDocuments = async (dataDir: string, env: NodeJS.ProcessEnv): Promise<DocumentStore> =>
  env.MONGO_URL ? MongoDocumentStore.connect(env.MONGO_URL) : new SqliteDocumentStore(path.join(dataDir, READ_MODELS_FILE));

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
      const dataDir = resolveDataDir(values['data-dir'], io.env);
      const store = openLogReadOnly(dataDir, io.env);
      const docs = await openDocuments(dataDir, io.env);
      try {
        const head = await store.headPosition();
        const report = [];
        for (const projection of PROJECTIONS) {
          const generation = await readActiveGeneration(docs, projection.name);
          const checkpoint = generation === undefined ? undefined : await docs.get(CHECKPOINT_COLLECTION, checkpointId(projection.name, generation));
          const position = typeof checkpoint?.position === 'number' ? checkpoint.position : 0;
          report.push({ projection: projection.name, generation: generation ?? null, position, head, lagEvents: Math.max(0, head - position) });
        }
        return { exitCode: 0, report };
      } finally {
        await docs.close();
        await store.close();
      }
    }
    case 'rebuild': {
      const { values, positionals } = parse(args, 1);
      const name = positionals[0];
      if (name === undefined) throw new UsageError('rebuild needs the name of a projection');
      const projection = PROJECTIONS.find((p) => p.name === name);
      if (!projection) throw new UsageError(`unknown projection "${name}"; one of ${PROJECTIONS.map((p) => p.name).join(', ')}`);
      const dataDir = resolveDataDir(values['data-dir'], io.env);
      const store = openLogReadOnly(dataDir, io.env);
      const docs = await openDocuments(dataDir, io.env);
      try {
        const started = Date.now();
        const head = await store.headPosition();
        const bar = progressBar(io, `rebuild ${name}`, head);
        const fresh = await rebuildGeneration(store, docs, projection, {
          batchSize: 2000,
          idleMs: 50,
          now: Date.now,
          onBatch: (progress) => bar.update(progress.position),
        });
        bar.finish();
        const elapsedMs = Date.now() - started;
        const { position } = fresh.progress();
        return {
          exitCode: 0,
          report: { projection: name, generation: fresh.generation, position, elapsedMs, eventsPerSecond: elapsedMs > 0 ? Math.round((position * 1000) / elapsedMs) : position },
        };
      } finally {
        await docs.close();
        await store.close();
      }
    }
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
};

