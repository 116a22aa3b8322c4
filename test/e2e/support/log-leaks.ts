import type { Readable } from 'node:stream';

/** A JWS compact token (a JWT): header and payload are base64url JSON objects, so both start with `eyJ`. */
const JWT = /eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/;
/** A bearer credential as an Authorization header spells it. */
const BEARER = /\bbearer\s+[A-Za-z0-9._~+/-]{8,}/i;
/**
 * The demo banner (DEMO=1 only) prints a buyer's and an admin's token on purpose, for a newcomer's curl: those two
 * lines, and no other, may hold a token.
 */
const DEMO_BANNER_TOKEN = /^ {2}(BUYER|ADMIN)=/;
/** Shorter values (a test's deliberately too-short secret) would match by accident, and are no secret. */
const MIN_SECRET_LENGTH = 16;

/**
 * Watches a server's stdout and stderr, line by line, for what must never be logged: the secrets it was started with
 * (JWT_SECRET, PAYMENT_WEBHOOK_SECRET), the tokens a test registers, and anything shaped like a JWT or a bearer
 * credential. What it finds is described with the secret's name in place of its value, so the report leaks nothing.
 */
export class LogLeakCheck {
  private readonly secrets = new Map<string, string>();
  private readonly found: string[] = [];

  /** A value that must appear in no line, named for the report. */
  forbid(name: string, value: string | undefined): void {
    if (value !== undefined && value.length >= MIN_SECRET_LENGTH) this.secrets.set(value, name);
  }

  /** Scans every line `stream` carries; `source` names it in the report (e.g. "api", "worker"). */
  watch(stream: Readable | null | undefined, source: string): void {
    if (!stream) return;
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.scan(line, source);
    });
    stream.on('end', () => this.scan(partial, source));
  }

  /** What was found so far, one description per finding. */
  get leaks(): readonly string[] {
    return this.found;
  }

  /** Throws, naming each finding, if anything was found. */
  assertNone(): void {
    if (this.found.length > 0) {
      throw new Error(`secrets or tokens in the server's output (${this.found.length}):\n${this.found.slice(0, 10).join('\n')}`);
    }
  }

  private scan(line: string, source: string): void {
    let shown = line;
    const names: string[] = [];
    for (const [value, name] of this.secrets) {
      if (line.includes(value)) {
        names.push(name);
        shown = shown.split(value).join(`<${name}>`);
      }
    }
    if (!DEMO_BANNER_TOKEN.test(line)) {
      if (JWT.test(shown)) names.push('a JWT');
      if (BEARER.test(shown)) names.push('a bearer credential');
      shown = shown.replace(new RegExp(JWT.source, 'g'), '<JWT>').replace(new RegExp(BEARER.source, 'gi'), '<bearer>');
    }
    if (names.length > 0) this.found.push(`${source}: ${names.join(', ')} in: ${shown.slice(0, 300)}`);
  }
}
