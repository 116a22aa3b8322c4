/**
 * The waiting room's line for one sale (issue #26): who joined in which order, who has been let through and when.
 * One port, two adapters (in process; Redis, shared by every api replica), one contract suite
 * (libs/access/test/admission-queue.contract.ts). The adapters keep no clock: time and pace come in as arguments.
 */

/** A user still in line: `seq` is their ticket number, `position` their live place (1 = next). */
export interface WaitingPlace {
  readonly kind: 'waiting';
  readonly seq: number;
  readonly joinedAt: number;
  readonly position: number;
}

/** A user let through at `admittedAt`; the slot lasts `admittedTtlMs` (the sale's tokenTtlMs) from then. */
export interface AdmittedPlace {
  readonly kind: 'admitted';
  readonly seq: number;
  readonly joinedAt: number;
  readonly admittedAt: number;
}

export type LivePlace = WaitingPlace | AdmittedPlace;

/** Nothing live under that ticket: never issued, replaced, or an admission whose slot ran out. */
export interface NoPlace {
  readonly kind: 'none';
}

export interface JoinRequest {
  readonly saleId: string;
  readonly userId: string;
  /** The client's address, as a key (a hash): a new ticket counts against it. */
  readonly ipKey: string;
  readonly now: number;
  readonly admittedTtlMs: number;
  /** Most new tickets one address may take for the sale; 0 = no limit. */
  readonly maxTicketsPerIp: number;
  /** How long the sale's line is kept after the last join (its end plus a margin). */
  readonly retainMs: number;
}

export type JoinOutcome = LivePlace | { readonly kind: 'ip-limited' };

/** One user let through by `admit`. */
export interface Admission {
  readonly userId: string;
  readonly seq: number;
  readonly joinedAt: number;
  readonly admittedAt: number;
}

export interface AdmitRequest {
  readonly saleId: string;
  readonly now: number;
  /** 1000 / admissions per second: the spacing between two admissions. */
  readonly intervalMs: number;
  /**
   * How far behind `now` the pace may fall and still be caught up (a pump delayed by a busy event loop keeps the
   * average rate); an idle line builds no credit at all, so a crowd that arrives at once is not let in in a burst.
   */
  readonly maxCatchUpMs: number;
}

export interface AdmissionQueue {
  /** A new ticket at the back of the line, or the user's live one (one live ticket per user and sale). */
  join(request: JoinRequest): Promise<JoinOutcome>;
  /** Where the ticket `seq` of `userId` stands now. */
  place(saleId: string, userId: string, seq: number, now: number, admittedTtlMs: number): Promise<LivePlace | NoPlace>;
  /** Lets through, in ticket order, everyone whose turn has come by `now` at the pace asked. Atomic across callers. */
  admit(request: AdmitRequest): Promise<Admission[]>;
  /** How many are waiting. */
  length(saleId: string): Promise<number>;
  /**
   * How many new tickets the address `userId` took their ticket from has been refused (ip-limited) for the sale: more
   * accounts asking from one address than it may hold tickets is a farm's mark, not a household's. 0 without a ticket.
   */
  turnedAwayAtJoinAddress(saleId: string, userId: string): Promise<number>;
  close(): Promise<void>;
}
