import { parseArgs } from 'node:util';
import { DEFAULT_EXPIRY_GRACE_MS } from './audit-model';
import { CommandIo, CommandResult, resolveDataDir, runCommandLine, UsageError } from '@flash/runtime';
import { exportCommand } from './commands/export';
import { ReplayBound, replayCommand } from './commands/replay';
import { verifyCommand } from './commands/verify';
import { verifyExportCommand } from './commands/verify-export';

export const USAGE = `usage: npm run audit -- <command> [options]

  verify [--sale ID] [--data-dir DIR] [--expiry-grace-ms MS] [--now ISO|EPOCH_MS]
      check every invariant at every prefix of the log; JSON report on stdout
  replay --until <ISO time | position> [--sale ID] [--data-dir DIR]
      state of every sale and shard at that point of the log
  export --out FILE [--data-dir DIR]
      JSON Lines with a SHA-256 hash chain and a final Ed25519 signature
      (key: env AUDIT_SIGNING_KEY, PEM PKCS#8; else generated per run, public key on stderr)
  verify-export FILE [--public-key KEY]
      check an export's chain and signature; KEY is base64 SPKI DER, PEM, or a PEM file

  --data-dir defaults to DATA_DIR, else ./data; EVENTSTORE_URL=postgres://… or esdb://… reads that store instead;
  the store is opened read-only.
exit codes: 0 ok, 1 invariant violated / export bad, 2 usage error or nothing could be read`;

type Flags = Record<string, { type: 'string' }>;

const parse = (args: string[], flags: Flags, positionals: number): { values: Record<string, string | undefined>; positionals: string[] } => {
  try {
    const parsed = parseArgs({ args, options: flags, allowPositionals: positionals > 0, strict: true });
    if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument ${String(parsed.positionals[positionals])}`);
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
};

const required = (value: string | undefined, flag: string): string => {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
};

const wholeNumber = (text: string, flag: string): number => {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag} must be a non-negative integer, got "${text}"`);
  return Number(text);
};

/** An instant: epoch milliseconds, or an ISO-8601 time. */
const instant = (text: string, flag: string): number => {
  if (/^\d+$/.test(text)) return wholeNumber(text, flag);
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) throw new UsageError(`${flag} must be an ISO-8601 time or epoch milliseconds, got "${text}"`);
  return ms;
};

/** A log position (digits) or an ISO-8601 time. */
const replayBound = (text: string): ReplayBound => {
  if (/^\d+$/.test(text)) return { position: wholeNumber(text, '--until') };
  const time = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time)) throw new UsageError(`--until must be a position or an ISO-8601 time, got "${text}"`);
  return { time };
};

const STORE_FLAGS = { 'data-dir': { type: 'string' }, sale: { type: 'string' } } as const;

/** Parses the command line and runs one command. */
export const runAudit = async (argv: string[], io: CommandIo): Promise<CommandResult> => {
  const [command, ...args] = argv;
  switch (command) {
    case 'verify': {
      const { values } = parse(args, { ...STORE_FLAGS, 'expiry-grace-ms': { type: 'string' }, now: { type: 'string' } }, 0);
      return verifyCommand(
        {
          dataDir: resolveDataDir(values['data-dir'], io.env),
          ...(values.sale === undefined ? {} : { saleId: values.sale }),
          expiryGraceMs: values['expiry-grace-ms'] === undefined ? DEFAULT_EXPIRY_GRACE_MS : wholeNumber(values['expiry-grace-ms'], '--expiry-grace-ms'),
          ...(values.now === undefined ? {} : { now: instant(values.now, '--now') }),
        },
        io,
      );
    }
    case 'replay': {
      const { values } = parse(args, { ...STORE_FLAGS, until: { type: 'string' } }, 0);
      return replayCommand(
        {
          dataDir: resolveDataDir(values['data-dir'], io.env),
          until: replayBound(required(values.until, '--until')),
          ...(values.sale === undefined ? {} : { saleId: values.sale }),
        },
        io,
      );
    }
    case 'export': {
      const { values } = parse(args, { 'data-dir': { type: 'string' }, out: { type: 'string' } }, 0);
      return exportCommand({ dataDir: resolveDataDir(values['data-dir'], io.env), out: required(values.out, '--out') }, io);
    }
    case 'verify-export': {
      const { values, positionals } = parse(args, { 'public-key': { type: 'string' } }, 1);
      const file = required(positionals[0], 'the export FILE');
      return verifyExportCommand({ file, ...(values['public-key'] === undefined ? {} : { publicKey: values['public-key'] }) });
    }
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
};

if (require.main === module) void runCommandLine('audit', USAGE, runAudit);
