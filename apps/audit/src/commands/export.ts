import fs from 'node:fs';
import { CannotRun, CommandIo, CommandResult, openLogSource, progressBar, readLog } from '@flash/runtime';
import { ExportSigner, exportSigner, SigningKeyError } from '../export-signing';
import { ChainWriter } from '../hash-chain';

export interface ExportOptions {
  readonly dataDir: string;
  readonly out: string;
}

const signerFromEnv = (signingKeyPem: string | undefined): ExportSigner => {
  try {
    return exportSigner(signingKeyPem);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new CannotRun(error.message);
    throw error;
  }
};

/**
 * Writes the log, up to the head it had when the export began, as JSON Lines chained by SHA-256, then one signed
 * line over the last hash. The signing key is AUDIT_SIGNING_KEY (PEM PKCS#8 Ed25519) or, without it, a key generated
 * for this run whose public key goes to stderr: keep it to check authorship later.
 */
export const exportCommand = async (options: ExportOptions, io: CommandIo): Promise<CommandResult> => {
  const signer = signerFromEnv(io.env.AUDIT_SIGNING_KEY);
  const source = await openLogSource(options.dataDir, io.env);
  const { store } = source;
  let fd: number;
  try {
    fd = fs.openSync(options.out, 'w');
  } catch (error) {
    await source.close();
    throw new CannotRun(`cannot write ${options.out}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    const head = await store.headPosition();
    const chain = new ChainWriter();
    const progress = progressBar(io, 'export', head);
    for await (const page of readLog(store, head)) {
      fs.writeSync(fd, page.map((e) => chain.eventLine(e) + '\n').join(''));
      progress.update(chain.count, page.at(-1)?.position ?? 0);
    }
    fs.writeSync(fd, chain.signatureLine(signer) + '\n');
    fs.fsyncSync(fd);
    progress.finish();
    if (signer.keySource === 'generated') {
      io.stderr.write(`audit export: AUDIT_SIGNING_KEY is not set; signed with a key generated for this run only.\npublic key (base64 SPKI DER): ${signer.publicKey}\n`);
    }
    return {
      exitCode: 0,
      report: { ok: true, out: options.out, count: chain.count, lastHash: chain.lastHash, algorithm: 'Ed25519', publicKey: signer.publicKey, keySource: signer.keySource },
    };
  } finally {
    fs.closeSync(fd);
    await source.close();
  }
};
