import { createHash, KeyObject } from 'node:crypto';
import { RecordedEvent } from '@flash/event-store';
import { ExportSigner, parsePublicKey, verifyDigestSignature } from './export-signing';

/**
 * The export's hash chain. Each event line carries `prevHash`: the SHA-256 (hex) of the previous line's exact bytes,
 * UTF-8, without its terminating "\n"; the first line carries GENESIS_HASH. The last line is the signature over the
 * hash of the last event line, so changing, removing or inserting any byte before it shows.
 */
export const GENESIS_HASH = '0'.repeat(64);
export const SIGNATURE_LINE_TYPE = '$signature';
export const SIGNATURE_ALGORITHM = 'Ed25519';

export const sha256Hex = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/**
 * A copy of a JSON value with every object's keys in code-unit order: what an event's data and metadata say, whatever
 * order the store hands them back in (PostgreSQL's jsonb orders keys by length, SQLite keeps the writer's order), so
 * that one log exported from either store gives the same bytes and the same hashes.
 */
export const canonicalJson = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = canonicalJson((value as Record<string, unknown>)[key]);
  return sorted;
};

/** Writes event lines, keeping the chain. */
export class ChainWriter {
  private prevHash = GENESIS_HASH;
  private lines = 0;

  /**
   * The next line (no newline); its key order is fixed, data and metadata in canonical key order, so the same event
   * always gives the same bytes, from any store.
   */
  eventLine(e: RecordedEvent): string {
    const line = JSON.stringify({
      position: e.position,
      streamId: e.streamId,
      revision: e.revision,
      eventId: e.eventId,
      type: e.type,
      data: canonicalJson(e.data),
      metadata: canonicalJson(e.metadata),
      recordedAt: e.recordedAt,
      prevHash: this.prevHash,
    });
    this.prevHash = sha256Hex(line);
    this.lines++;
    return line;
  }

  /** The hash of the last event line (GENESIS_HASH for an empty log). */
  get lastHash(): string {
    return this.prevHash;
  }

  get count(): number {
    return this.lines;
  }

  signatureLine(signer: ExportSigner): string {
    return JSON.stringify({
      type: SIGNATURE_LINE_TYPE,
      lastHash: this.lastHash,
      count: this.lines,
      algorithm: SIGNATURE_ALGORITHM,
      publicKey: signer.publicKey,
      signature: signer.signDigest(this.lastHash),
    });
  }
}

export interface SignatureCheck {
  readonly algorithm: string;
  /** The public key in the file (base64 SPKI DER). */
  readonly publicKey: string;
  readonly keySource: 'argument' | 'file';
  /** Verified with the key of `keySource`. */
  readonly valid: boolean;
  readonly note?: string;
}

export interface ExportCheck {
  readonly ok: boolean;
  /** Lines read (up to the first bad one). */
  readonly lines: number;
  readonly events: number;
  /** 1-based number of the first line that is wrong or missing. */
  readonly firstBadLine?: number;
  readonly problem?: string;
  readonly lastHash?: string;
  readonly signature?: SignatureCheck;
}

const FROM_FILE_NOTE =
  'the signature was checked with the public key written in the file itself: this proves the file is intact, not who wrote it; pass --public-key to check authorship';

const parseLine = (bytes: Uint8Array): unknown => {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
};

const HEX64 = /^[0-9a-f]{64}$/;
const isCanonicalBase64 = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && Buffer.from(v, 'base64').toString('base64') === v;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWhole = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

const eventLineShapeProblem = (line: Record<string, unknown>): string | undefined => {
  if (!isWhole(line.position, 1)) return 'position is not a positive integer';
  if (typeof line.streamId !== 'string' || typeof line.eventId !== 'string' || typeof line.type !== 'string') return 'streamId, eventId or type is not a string';
  if (!isWhole(line.revision, 0)) return 'revision is not a non-negative integer';
  if (!isRecord(line.data) || !isRecord(line.metadata)) return 'data or metadata is not an object';
  if (typeof line.recordedAt !== 'number') return 'recordedAt is not a number';
  if (typeof line.prevHash !== 'string' || !HEX64.test(line.prevHash)) return 'prevHash is not 64 hex digits';
  return undefined;
};

interface SignatureFields {
  readonly lastHash: string;
  readonly count: number;
  readonly algorithm: string;
  readonly publicKey: string;
  readonly signature: string;
}

const signatureFields = (line: Record<string, unknown>): SignatureFields | string => {
  const { lastHash, count, algorithm, publicKey, signature } = line;
  if (typeof lastHash !== 'string' || !HEX64.test(lastHash)) return 'lastHash is not 64 hex digits';
  if (!isWhole(count, 0)) return 'count is not a non-negative integer';
  if (algorithm !== SIGNATURE_ALGORITHM) return `algorithm is ${JSON.stringify(algorithm)}, not ${SIGNATURE_ALGORITHM}`;
  // Canonical only: lenient base64 decoding ignores some bits of the last character, so a changed byte could pass.
  if (!isCanonicalBase64(publicKey) || !isCanonicalBase64(signature)) return 'publicKey or signature is not canonical base64';
  return { lastHash, count, algorithm, publicKey, signature };
};

/**
 * Checks an export one line at a time (the file is never held in memory) and names the first bad line.
 *
 * A changed byte breaks the link *after* the changed line (the next line's prevHash, or the signature's lastHash,
 * no longer matches), and also the link *into* it when the byte is in its own prevHash. So on the first broken link
 * into line n the checker looks at one more link before deciding: broken again → line n itself changed; intact →
 * line n − 1 changed (or lines were removed or inserted between them).
 */
export class ExportChecker {
  private lineNumber = 0;
  private eventLines = 0;
  private prevLineHash = GENESIS_HASH;
  private lastPosition = 0;
  /** A line whose prevHash does not match the line before it, waiting for the next link to say which line is bad. */
  private brokenLinkInto: number | undefined;
  private signature: SignatureCheck | undefined;
  private lastHash: string | undefined;
  private bad: { line: number; problem: string } | undefined;

  /** @param trustedKey the key from --public-key; without it the file's own key is used (integrity, not authorship). */
  constructor(private readonly trustedKey?: KeyObject) {}

  /** Feeds the next line's bytes (without "\n"); false once a bad line is found (the rest need not be read). */
  push(bytes: Uint8Array): boolean {
    if (this.failed) return false;
    const n = ++this.lineNumber;
    const ownHash = sha256Hex(bytes);
    const line = this.signature ? undefined : parseLine(bytes);
    if (this.signature) this.fail(n, `line ${n} follows the ${SIGNATURE_LINE_TYPE} line`);
    else if (!isRecord(line)) this.failOrResolve(n, `line ${n} is not a JSON object`);
    else if (line.type === SIGNATURE_LINE_TYPE) this.checkSignatureLine(n, line);
    else this.checkEventLine(n, line);
    this.prevLineHash = ownHash;
    return !this.failed;
  }

  // A getter, not the field: the checks above set `bad` behind the type checker's back.
  private get failed(): boolean {
    return this.bad !== undefined;
  }

  /** @param endsWithNewline whether the file's last byte is "\n" (every line the export writes ends with one). */
  finish(endsWithNewline: boolean): ExportCheck {
    if (!this.bad) {
      const n = this.lineNumber;
      if (this.brokenLinkInto !== undefined) this.failBrokenLink(this.brokenLinkInto, false);
      else if (n === 0) this.fail(1, `the file is empty: no ${SIGNATURE_LINE_TYPE} line`);
      else if (!this.signature) this.fail(n + 1, `the file ends at line ${n} without its ${SIGNATURE_LINE_TYPE} line: it was truncated or the signature removed`);
      else if (!endsWithNewline) this.fail(n, `line ${n} is not terminated by a newline`);
    }
    return {
      ok: this.bad === undefined,
      lines: this.lineNumber,
      events: this.eventLines,
      ...(this.bad ? { firstBadLine: this.bad.line, problem: this.bad.problem } : {}),
      ...(this.lastHash === undefined ? {} : { lastHash: this.lastHash }),
      ...(this.signature ? { signature: this.signature } : {}),
    };
  }

  private checkEventLine(n: number, line: Record<string, unknown>): void {
    const shapeProblem = eventLineShapeProblem(line);
    if (shapeProblem !== undefined) {
      this.failOrResolve(n, `line ${n}: ${shapeProblem}`);
      return;
    }
    const linkBroken = line.prevHash !== this.prevLineHash;
    if (this.brokenLinkInto !== undefined) {
      this.failBrokenLink(this.brokenLinkInto, linkBroken);
      return;
    }
    if (linkBroken) {
      if (n === 1) this.fail(1, `line 1: prevHash is not the genesis hash (${GENESIS_HASH.slice(0, 8)}…)`);
      else this.brokenLinkInto = n;
      return;
    }
    if ((line.position as number) <= this.lastPosition) {
      this.fail(n, `line ${n}: position ${String(line.position)} does not follow position ${this.lastPosition}`);
      return;
    }
    this.lastPosition = line.position as number;
    this.eventLines++;
  }

  private checkSignatureLine(n: number, line: Record<string, unknown>): void {
    const fields = signatureFields(line);
    if (typeof fields === 'string') {
      this.failOrResolve(n, `line ${n} (${SIGNATURE_LINE_TYPE}): ${fields}`);
      return;
    }
    let ownKey: KeyObject | undefined;
    try {
      ownKey = parsePublicKey(fields.publicKey);
    } catch {
      ownKey = undefined;
    }
    // Signed consistently with its own key: then lastHash is what was signed, and a mismatch is the line before.
    const selfConsistent = ownKey !== undefined && verifyDigestSignature(ownKey, fields.lastHash, fields.signature);
    const valid = this.trustedKey ? verifyDigestSignature(this.trustedKey, fields.lastHash, fields.signature) : selfConsistent;
    this.signature = {
      algorithm: fields.algorithm,
      publicKey: fields.publicKey,
      keySource: this.trustedKey ? 'argument' : 'file',
      valid,
      ...(this.trustedKey ? {} : { note: FROM_FILE_NOTE }),
    };
    this.lastHash = fields.lastHash;
    const linkBroken = fields.lastHash !== this.prevLineHash;
    const at = `line ${n} (${SIGNATURE_LINE_TYPE})`;
    if (this.brokenLinkInto !== undefined) this.failBrokenLink(this.brokenLinkInto, linkBroken);
    else if (linkBroken && selfConsistent && n > 1) this.fail(n - 1, `line ${n - 1} was changed: it no longer hashes to the signed lastHash`);
    else if (linkBroken) this.fail(n, `${at}: lastHash does not match ${n === 1 ? 'the genesis hash' : `line ${n - 1}`}`);
    else if (fields.count !== this.eventLines) this.fail(n, `${at}: count is ${fields.count}, but the file has ${this.eventLines} event lines`);
    else if (!valid) this.fail(n, `${at}: the signature does not verify with ${this.trustedKey ? 'the given public key' : 'the public key in the file'}`);
  }

  /** The link into line `into` is broken; `nextLinkBroken` says whether the link out of it is broken too. */
  private failBrokenLink(into: number, nextLinkBroken: boolean): void {
    if (nextLinkBroken) this.fail(into, `line ${into} was changed: its prevHash does not match line ${into - 1}, and line ${into + 1}'s prevHash does not match it`);
    else this.fail(into - 1, `line ${into - 1} was changed, or lines were removed or inserted after it: it does not hash to the prevHash in line ${into}`);
  }

  /** A line that cannot be checked: an earlier broken link is reported first. */
  private failOrResolve(n: number, problem: string): void {
    if (this.brokenLinkInto !== undefined) this.failBrokenLink(this.brokenLinkInto, true);
    else this.fail(n, problem);
  }

  private fail(line: number, problem: string): void {
    this.bad ??= { line, problem };
  }
}
