import { isIP } from 'node:net';

export type BlacklistTarget = { readonly userId: string } | { readonly ip: string };

export interface BlacklistEntry {
  /** `user:<id>` or `ip:<address>`: the entry's name in DELETE /admin/blacklist/:entry. */
  readonly entry: string;
  readonly kind: 'user' | 'ip';
  /** The user id, or the address in its normalised form. */
  readonly value: string;
  readonly reason: string;
  readonly createdAt: number;
}

export interface BlacklistSubject {
  readonly userId?: string;
  readonly ip?: string;
}

/**
 * Blocked users and addresses (seed 002). Matched on every purchase request, so `match()` answers from local
 * memory; an implementation shared between instances (Redis: a hash plus pub/sub) keeps a local copy in step.
 */
export interface Blacklist {
  /** Adds or replaces the entry for this target. */
  add(target: BlacklistTarget, reason: string): Promise<BlacklistEntry>;
  /** False when there was no such entry. */
  remove(entry: string): Promise<boolean>;
  list(): Promise<readonly BlacklistEntry[]>;
  match(subject: BlacklistSubject): BlacklistEntry | undefined;
}

export class InvalidBlacklistEntry extends Error {}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same client; IPv6 is compared in its canonical lower-case form. */
export const normaliseIp = (ip: string): string => {
  const trimmed = ip.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(trimmed);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (isIP(trimmed) === 6) return new URL(`http://[${trimmed}]/`).hostname.slice(1, -1);
  return trimmed;
};

export const blacklistEntryName = (target: BlacklistTarget): string =>
  'userId' in target ? `user:${target.userId}` : `ip:${normaliseIp(target.ip)}`;

/** Parses `user:<id>` / `ip:<address>`; throws InvalidBlacklistEntry for anything else. */
export const parseBlacklistEntry = (entry: string): BlacklistTarget => {
  if (entry.startsWith('user:') && entry.length > 'user:'.length) return { userId: entry.slice('user:'.length) };
  if (entry.startsWith('ip:') && isIP(entry.slice('ip:'.length)) !== 0) return { ip: entry.slice('ip:'.length) };
  throw new InvalidBlacklistEntry(`a blacklist entry is user:<id> or ip:<address>, got "${entry}"`);
};

export class InMemoryBlacklist implements Blacklist {
  private readonly entries = new Map<string, BlacklistEntry>();

  constructor(private readonly now: () => number) {}

  async add(target: BlacklistTarget, reason: string): Promise<BlacklistEntry> {
    if ('ip' in target && isIP(target.ip.trim()) === 0) throw new InvalidBlacklistEntry(`"${target.ip}" is not an IP address`);
    const entry = blacklistEntryName(target);
    const added: BlacklistEntry = {
      entry,
      kind: 'userId' in target ? 'user' : 'ip',
      value: entry.slice(entry.indexOf(':') + 1),
      reason,
      createdAt: this.now(),
    };
    this.entries.set(entry, added);
    return added;
  }

  async remove(entry: string): Promise<boolean> {
    return this.entries.delete(blacklistEntryName(parseBlacklistEntry(entry)));
  }

  async list(): Promise<readonly BlacklistEntry[]> {
    return [...this.entries.values()];
  }

  match(subject: BlacklistSubject): BlacklistEntry | undefined {
    if (this.entries.size === 0) return undefined;
    const byUser = subject.userId === undefined ? undefined : this.entries.get(`user:${subject.userId}`);
    if (byUser) return byUser;
    return subject.ip === undefined ? undefined : this.entries.get(`ip:${normaliseIp(subject.ip)}`);
  }
}
