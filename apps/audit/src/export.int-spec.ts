import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AuditLog, dataDirWith, saleDefinition, T0, tempDir } from '../test/audit-log';
import { runAuditCli } from '../test/run-audit-cli';
import { ExportCheck, GENESIS_HASH, sha256Hex } from './hash-chain';

const sale = saleDefinition({ saleId: 'sale-export', totalStock: 3, shards: 1, perUserLimit: 1 });

interface ExportReport {
  readonly ok: boolean;
  readonly out: string;
  readonly count: number;
  readonly lastHash: string;
  readonly publicKey: string;
  readonly keySource: 'env' | 'generated';
}

const work = tempDir('flash-audit-export-');
let dataDir: string;
let eventCount: number;

beforeAll(async () => {
  const log = new AuditLog().scheduleSale(sale);
  const orderId = log.purchase(sale, 0, 'alice', 'alice-key-1', 1, T0 + 1000);
  log.pay(sale, 0, orderId, 'pay-1', sale.price, T0 + 2000);
  log.purchase(sale, 0, 'bob', 'bob-key-1', 1, T0 + 3000);
  eventCount = log.events.length;
  dataDir = await dataDirWith(log);
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

let fileCounter = 0;
const exportFile = async (env: Record<string, string> = {}) => {
  const out = path.join(work, `export-${++fileCounter}.jsonl`);
  const run = await runAuditCli<ExportReport>(['export', '--data-dir', dataDir, '--out', out], env);
  return { out, run };
};

const verifyExport = (file: string, ...args: string[]) => runAuditCli<ExportCheck & { file: string }>(['verify-export', file, ...args]);

/**
 * The file with one byte of line `lineNumber` (1-based) replaced, `offset` bytes after the start of `target`: a digit
 * becomes another digit, anything else flips a bit.
 */
const withOneByteChanged = (file: string, lineNumber: number, target: string, offset = 0): string => {
  const bytes = fs.readFileSync(file);
  let start = 0;
  for (let n = 1; n < lineNumber; n++) start = bytes.indexOf(0x0a, start) + 1;
  const index = bytes.indexOf(Buffer.from(target), start) + offset;
  const end = bytes.indexOf(0x0a, start);
  if (index < start + offset || index >= end) throw new Error(`"${target}" is not in line ${lineNumber}`);
  const changed = Buffer.from(bytes);
  const original = changed[index]!;
  changed[index] = original >= 0x30 && original <= 0x38 ? original + 1 : original ^ 0x01;
  const copy = `${file}.line-${lineNumber}-${target.replace(/\W/g, '')}-${offset}`;
  fs.writeFileSync(copy, changed);
  return copy;
};

describe('audit export and verify-export, run as the built CLI', () => {
  it('writes every event as a chained JSON line and a signed last line, and prints the generated public key on stderr', async () => {
    const { out, run } = await exportFile();

    expect(run.exitCode).toBe(0);
    expect(run.report).toMatchObject({ ok: true, count: eventCount, keySource: 'generated' });
    expect(run.stderr).toContain(run.report.publicKey);
    const lines = fs.readFileSync(out, 'utf8').split('\n');
    expect(lines.pop()).toBe(''); // every line ends with "\n"
    expect(lines).toHaveLength(eventCount + 1);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ position: 1, streamId: 'sale-sale-export', revision: 0, type: 'SaleScheduled', prevHash: GENESIS_HASH });
    expect(JSON.parse(lines[1]!).prevHash).toBe(sha256Hex(lines[0]!));
    expect(JSON.parse(lines[eventCount]!)).toMatchObject({ type: '$signature', count: eventCount, lastHash: sha256Hex(lines[eventCount - 1]!), algorithm: 'Ed25519' });
  });

  it('passes an untouched export, with the key in the file (integrity only) and with the signer’s key given', async () => {
    const { out, run } = await exportFile();

    const fromFile = await verifyExport(out);
    const withKey = await verifyExport(out, '--public-key', run.report.publicKey);

    expect(fromFile.exitCode).toBe(0);
    expect(fromFile.report).toMatchObject({ ok: true, lines: eventCount + 1, events: eventCount, signature: { valid: true, keySource: 'file' } });
    expect(fromFile.report.signature?.note).toContain('proves the file is intact, not who wrote it');
    expect(withKey.exitCode).toBe(0);
    expect(withKey.report.signature).toMatchObject({ valid: true, keySource: 'argument' });
    expect(withKey.report.signature?.note).toBeUndefined();
  });

  it('fails against the public key of another signer, naming the signature line', async () => {
    const { out } = await exportFile();
    const otherKey = createPublicKey(generateKeyPairSync('ed25519').privateKey).export({ type: 'spki', format: 'der' }).toString('base64');

    const run = await verifyExport(out, '--public-key', otherKey);

    expect(run.exitCode).toBe(1);
    expect(run.report).toMatchObject({ ok: false, firstBadLine: eventCount + 1, signature: { valid: false, keySource: 'argument' } });
  });

  it('fails when one byte of any line is changed, naming that line', async () => {
    const { out } = await exportFile();
    const changes: Array<[number, string, number]> = [
      [1, '"totalStock"', 0], // a field name of the first line
      [1, '"prevHash":"', 12], // the first digit of the genesis hash
      [4, '"quantity":', 11], // a value in the middle
      [5, '"prevHash":"', 20], // a digit of the chain itself
      [6, '"paymentId"', 0],
      [eventCount, '"recordedAt":', 14],
      [eventCount + 1, '"count":', 8], // the signature line itself
      [eventCount + 1, '"signature":"', 13],
    ];
    for (const [lineNumber, target, offset] of changes) {
      const run = await verifyExport(withOneByteChanged(out, lineNumber, target, offset));
      expect({ lineNumber, exitCode: run.exitCode, firstBadLine: run.report.firstBadLine }).toEqual({ lineNumber, exitCode: 1, firstBadLine: lineNumber });
      expect(run.report.problem).toEqual(expect.any(String));
    }
  });

  it('fails when the last line (the signature) is deleted', async () => {
    const { out } = await exportFile();
    const lines = fs.readFileSync(out, 'utf8').split('\n').slice(0, -2);
    const truncated = `${out}.truncated`;
    fs.writeFileSync(truncated, lines.join('\n') + '\n');

    const run = await verifyExport(truncated);

    expect(run.exitCode).toBe(1);
    expect(run.report).toMatchObject({ ok: false, firstBadLine: eventCount + 1, problem: expect.stringContaining('without its $signature line') });
  });

  it('signs with AUDIT_SIGNING_KEY (PEM PKCS#8), whose public key as a PEM file then verifies it', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const publicKeyFile = path.join(work, 'signer.pub.pem');
    fs.writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));

    const { out, run } = await exportFile({ AUDIT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const verified = await verifyExport(out, '--public-key', publicKeyFile);

    expect(run.report).toMatchObject({ keySource: 'env', publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') });
    expect(run.stderr).toBe('');
    expect(verified.exitCode).toBe(0);
  });

  it('exits 2 on a signing key that is not an Ed25519 PEM key, and on a missing export file', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const badKeys = ['not a key', rsa];
    for (const key of badKeys) {
      const { run } = await exportFile({ AUDIT_SIGNING_KEY: key });
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toMatch(/AUDIT_SIGNING_KEY/);
    }
    const missing = await verifyExport(path.join(work, 'no-such-export.jsonl'));
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
  });
});
