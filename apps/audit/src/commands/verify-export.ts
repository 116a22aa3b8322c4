import fs from 'node:fs';
import { KeyObject } from 'node:crypto';
import { CannotRun, CommandResult } from '@flash/runtime';
import { parsePublicKey, SigningKeyError } from '../export-signing';
import { ExportChecker } from '../hash-chain';

export interface VerifyExportOptions {
  readonly file: string;
  /** base64 SPKI DER, PEM, or a PEM file; without it the key written in the export is used. */
  readonly publicKey?: string;
}

const NEWLINE = 0x0a;

/** The file's lines as raw bytes (the chain hashes bytes, so nothing is decoded here), and whether it ends in "\n". */
async function* byteLines(file: string): AsyncGenerator<{ line: Buffer } | { endsWithNewline: boolean }> {
  let rest: Buffer = Buffer.alloc(0);
  let lastByte: number | undefined;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    if (chunk.length === 0) continue;
    lastByte = chunk[chunk.length - 1];
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE)) {
      yield { line: data.subarray(0, nl) };
      data = data.subarray(nl + 1);
    }
    rest = Buffer.from(data);
  }
  if (rest.length > 0) yield { line: rest };
  yield { endsWithNewline: lastByte === NEWLINE };
}

/** Checks an export's chain and signature line by line; exit 1 naming the first bad line. */
export const verifyExportCommand = async (options: VerifyExportOptions): Promise<CommandResult> => {
  if (!fs.existsSync(options.file)) throw new CannotRun(`no such file: ${options.file}`);
  let trustedKey: KeyObject | undefined;
  try {
    trustedKey = options.publicKey === undefined ? undefined : parsePublicKey(options.publicKey);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new CannotRun(`--public-key: ${error.message}`);
    throw error;
  }
  const checker = new ExportChecker(trustedKey);
  let endsWithNewline = false;
  for await (const item of byteLines(options.file)) {
    if ('endsWithNewline' in item) endsWithNewline = item.endsWithNewline;
    else if (!checker.push(item.line)) break;
  }
  const result = checker.finish(endsWithNewline);
  return { exitCode: result.ok ? 0 : 1, report: { file: options.file, ...result } };
};
