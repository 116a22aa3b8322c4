import { Admission, AdmissionQueue, AdmitRequest, JoinOutcome, JoinRequest, LivePlace, NoPlace } from './admission-queue.port';

interface Entry {
  seq: number;
  joinedAt: number;
  /** 0 while waiting. */
  admittedAt: number;
}

interface Line {
  lastSeq: number;
  readonly users: Map<string, Entry>;
  /** The waiting users in ticket order; those before `head` have been admitted. */
  readonly waiting: { userId: string; seq: number }[];
  head: number;
  /** The earliest time the next admission may happen (the pace's "theoretical arrival time"). */
  nextAt: number;
  readonly ticketsPerIp: Map<string, number>;
  /** New tickets refused per address (ip-limited). */
  readonly refusedPerIp: Map<string, number>;
  /** The address each ticket was taken from. */
  readonly joinedFrom: Map<string, string>;
}

/** The line in this process's memory (one api process, embedded mode): the Redis adapter's twin. */
export class InProcessAdmissionQueue implements AdmissionQueue {
  private readonly lines = new Map<string, Line>();

  join(request: JoinRequest): Promise<JoinOutcome> {
    const line = this.line(request.saleId);
    const live = this.live(line, request.userId, request.now, request.admittedTtlMs);
    if (live) return Promise.resolve(live);
    if (request.maxTicketsPerIp > 0) {
      const taken = line.ticketsPerIp.get(request.ipKey) ?? 0;
      if (taken >= request.maxTicketsPerIp) {
        line.refusedPerIp.set(request.ipKey, (line.refusedPerIp.get(request.ipKey) ?? 0) + 1);
        return Promise.resolve({ kind: 'ip-limited' });
      }
      line.ticketsPerIp.set(request.ipKey, taken + 1);
    }
    // The first in an empty line starts the pace: the time the line stood empty is no credit.
    if (line.head >= line.waiting.length) line.nextAt = Math.max(line.nextAt, request.now);
    const entry: Entry = { seq: ++line.lastSeq, joinedAt: request.now, admittedAt: 0 };
    line.users.set(request.userId, entry);
    line.joinedFrom.set(request.userId, request.ipKey);
    line.waiting.push({ userId: request.userId, seq: entry.seq });
    return Promise.resolve({ kind: 'waiting', seq: entry.seq, joinedAt: entry.joinedAt, position: line.waiting.length - line.head });
  }

  place(saleId: string, userId: string, seq: number, now: number, admittedTtlMs: number): Promise<LivePlace | NoPlace> {
    const line = this.lines.get(saleId);
    const live = line ? this.live(line, userId, now, admittedTtlMs) : undefined;
    return Promise.resolve(live && live.seq === seq ? live : { kind: 'none' });
  }

  admit({ saleId, now, intervalMs, maxCatchUpMs }: AdmitRequest): Promise<Admission[]> {
    const line = this.lines.get(saleId);
    if (!line) return Promise.resolve([]);
    if (line.head >= line.waiting.length) {
      line.nextAt = Math.max(line.nextAt, now);
      return Promise.resolve([]);
    }
    let nextAt = Math.max(line.nextAt, now - maxCatchUpMs);
    const admitted: Admission[] = [];
    while (nextAt <= now && line.head < line.waiting.length) {
      const { userId, seq } = line.waiting[line.head++] as { userId: string; seq: number };
      const entry = line.users.get(userId) as Entry;
      entry.admittedAt = now;
      admitted.push({ userId, seq, joinedAt: entry.joinedAt, admittedAt: now });
      nextAt += intervalMs;
    }
    line.nextAt = nextAt;
    // Drop the admitted prefix now and then, so the array does not grow with everyone who ever waited.
    if (line.head > 1024 && line.head * 2 > line.waiting.length) {
      line.waiting.splice(0, line.head);
      line.head = 0;
    }
    return Promise.resolve(admitted);
  }

  length(saleId: string): Promise<number> {
    const line = this.lines.get(saleId);
    return Promise.resolve(line ? line.waiting.length - line.head : 0);
  }

  turnedAwayAtJoinAddress(saleId: string, userId: string): Promise<number> {
    const line = this.lines.get(saleId);
    const ipKey = line?.joinedFrom.get(userId);
    return Promise.resolve(line && ipKey !== undefined ? (line.refusedPerIp.get(ipKey) ?? 0) : 0);
  }

  close(): Promise<void> {
    this.lines.clear();
    return Promise.resolve();
  }

  private line(saleId: string): Line {
    let line = this.lines.get(saleId);
    if (!line) this.lines.set(saleId, (line = { lastSeq: 0, users: new Map(), waiting: [], head: 0, nextAt: 0, ticketsPerIp: new Map(), refusedPerIp: new Map(), joinedFrom: new Map() }));
    return line;
  }

  private live(line: Line, userId: string, now: number, admittedTtlMs: number): LivePlace | undefined {
    const entry = line.users.get(userId);
    if (!entry) return undefined;
    if (entry.admittedAt > 0) {
      return now < entry.admittedAt + admittedTtlMs ? { kind: 'admitted', seq: entry.seq, joinedAt: entry.joinedAt, admittedAt: entry.admittedAt } : undefined;
    }
    return { kind: 'waiting', seq: entry.seq, joinedAt: entry.joinedAt, position: this.positionOf(line, entry.seq) };
  }

  /** Tickets are pushed in increasing order, so the place in line is a binary search from the head. */
  private positionOf(line: Line, seq: number): number {
    let low = line.head;
    let high = line.waiting.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((line.waiting[mid] as { seq: number }).seq < seq) low = mid + 1;
      else high = mid;
    }
    return low - line.head + 1;
  }
}
