import { RecordedEvent } from '@flash/event-store';
import { exportSigner, parsePublicKey } from './export-signing';
import { ChainWriter, ExportCheck, ExportChecker, GENESIS_HASH, sha256Hex } from './hash-chain';

const recorded = (position: number): RecordedEvent => ({
  position,
  streamId: `inventory-sale-a-${position % 2}`,
  revision: Math.floor(position / 2),
  eventId: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
  type: 'StockReserved',
  data: { saleId: 'sale-a', shard: position % 2, orderId: `order-${position}`, userId: `u${position}`, quantity: 1, reservedAt: 1_900_000_000_000 + position },
  metadata: { schemaVersion: 1, correlationId: `order-${position}` },
  recordedAt: 1_900_000_000_000 + position,
});

const signer = exportSigner(undefined);

/** An export of `events` events as lines (without "\n"), the last one the signature. */
const exportLines = (events: number): Buffer[] => {
  const chain = new ChainWriter();
  const lines = Array.from({ length: events }, (_, i) => chain.eventLine(recorded(i + 1)));
  lines.push(chain.signatureLine(signer));
  return lines.map((l) => Buffer.from(l, 'utf8'));
};

const check = (lines: readonly Buffer[], trustedKey?: string, endsWithNewline = true): ExportCheck => {
  const checker = new ExportChecker(trustedKey === undefined ? undefined : parsePublicKey(trustedKey));
  for (const line of lines) if (!checker.push(line)) break;
  return checker.finish(endsWithNewline);
};

const withByte = (lines: readonly Buffer[], lineIndex: number, byteIndex: number, value: number): Buffer[] =>
  lines.map((line, i) => {
    if (i !== lineIndex) return line;
    const changed = Buffer.from(line);
    changed[byteIndex] = value;
    return changed;
  });

/** Another byte of the same kind where possible (a digit for a digit, a letter for a letter), so the JSON often stays valid. */
const lookalike = (byte: number): number => {
  const c = String.fromCharCode(byte);
  if (/[0-8]/.test(c)) return byte + 1;
  if (c === '9') return '0'.charCodeAt(0);
  if (/[a-yA-Y]/.test(c)) return byte + 1;
  return byte ^ 0x01;
};

describe('hash chain', () => {
  it('chains every line to the bytes of the one before, from the genesis hash', () => {
    const lines = exportLines(3);
    const parsed = lines.map((l) => JSON.parse(l.toString()));
    expect(parsed[0].prevHash).toBe(GENESIS_HASH);
    expect(parsed[1].prevHash).toBe(sha256Hex(lines[0]!));
    expect(parsed[2].prevHash).toBe(sha256Hex(lines[1]!));
    expect(parsed[3]).toEqual({
      type: '$signature',
      lastHash: sha256Hex(lines[2]!),
      count: 3,
      algorithm: 'Ed25519',
      publicKey: signer.publicKey,
      signature: expect.any(String),
    });
    expect(Object.keys(parsed[0])).toEqual(['position', 'streamId', 'revision', 'eventId', 'type', 'data', 'metadata', 'recordedAt', 'prevHash']);
  });

  it('passes an untouched export and says a key taken from the file proves integrity only', () => {
    const result = check(exportLines(4));
    expect(result).toMatchObject({ ok: true, lines: 5, events: 4, signature: { valid: true, keySource: 'file', publicKey: signer.publicKey } });
    expect(result.signature?.note).toContain('not who wrote it');
    expect(result.firstBadLine).toBeUndefined();
  });

  it('passes an untouched export against the signer’s public key given as an argument', () => {
    expect(check(exportLines(2), signer.publicKey)).toMatchObject({ ok: true, signature: { valid: true, keySource: 'argument' } });
  });

  it('fails against another public key, naming the signature line', () => {
    const other = exportSigner(undefined);
    expect(check(exportLines(2), other.publicKey)).toMatchObject({ ok: false, firstBadLine: 3, signature: { valid: false, keySource: 'argument' } });
  });

  it('names the changed line for every single-byte change of every line', () => {
    const lines = exportLines(3);
    const misattributed: string[] = [];
    lines.forEach((line, lineIndex) => {
      for (let byteIndex = 0; byteIndex < line.length; byteIndex++) {
        const original = line[byteIndex]!;
        for (const value of new Set([original ^ 0x01, lookalike(original)])) {
          const result = check(withByte(lines, lineIndex, byteIndex, value));
          if (result.ok || result.firstBadLine !== lineIndex + 1) {
            misattributed.push(`line ${lineIndex + 1} byte ${byteIndex} → ${result.ok ? 'ok' : `line ${result.firstBadLine}: ${result.problem}`}`);
          }
        }
      }
    });
    expect(misattributed).toEqual([]);
  });

  it('fails when the signature line is deleted, naming the missing line', () => {
    const lines = exportLines(3).slice(0, -1);
    expect(check(lines)).toMatchObject({ ok: false, firstBadLine: 4, problem: expect.stringContaining('without its $signature line') });
  });

  it('fails when an event line is deleted or the lines are reordered', () => {
    const lines = exportLines(4);
    expect(check([...lines.slice(0, 1), ...lines.slice(2)])).toMatchObject({ ok: false, firstBadLine: 1 });
    expect(check([lines[1]!, lines[0]!, ...lines.slice(2)])).toMatchObject({ ok: false, firstBadLine: 1 });
  });

  it('fails on an empty file, a line after the signature, and a missing final newline', () => {
    expect(check([])).toMatchObject({ ok: false, firstBadLine: 1 });
    const lines = exportLines(1);
    expect(check([...lines, lines[0]!])).toMatchObject({ ok: false, firstBadLine: 3 });
    expect(check(lines, undefined, false)).toMatchObject({ ok: false, firstBadLine: 2 });
  });

  it('signs and checks an export of an empty log', () => {
    expect(check(exportLines(0))).toMatchObject({ ok: true, events: 0, lastHash: GENESIS_HASH });
  });
});
