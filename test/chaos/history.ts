/**
 * A Jepsen-style history: every client operation is recorded when it is invoked and again when it completes, as
 * `ok`, `fail` (a definite refusal: nothing happened, with its code) or `unknown` (Jepsen's `info`: a timeout, a
 * connection reset, a 5xx during a fault — it may or may not have taken effect). The checker judges the store
 * against this record.
 */

export type OpKind = 'reserve' | 'get-order' | 'access';
export type Completion = 'ok' | 'fail' | 'unknown';

export interface ReservationValue {
  readonly saleId: string;
  readonly userId: string;
  readonly idempotencyKey: string;
  readonly quantity: number;
}

/** What a reservation's 2xx body says (API.md: 201/200 {orderId, saleId, userId, quantity, status, shard}). */
export interface ReservationAnswer {
  readonly orderId: string;
  readonly saleId: string;
  readonly userId: string;
  readonly quantity: number;
  readonly status: string;
  readonly shard: number;
  readonly expiresAt?: string;
}

export interface InvokeEntry {
  readonly type: 'invoke';
  readonly op: number;
  readonly f: OpKind;
  /** Jepsen's process: the client (buyer) that issued the operation. */
  readonly process: string;
  readonly value: ReservationValue | Record<string, unknown>;
  /** ms since the history began. */
  readonly time: number;
  /** Which phase of the run issued it (spike, outage, recovery retry, top-up, ...). */
  readonly phase: string;
}

export interface CompleteEntry {
  readonly type: Completion;
  readonly op: number;
  readonly f: OpKind;
  readonly process: string;
  readonly time: number;
  readonly status?: number;
  /** Error code of the envelope (fail, 5xx), or the transport error (ECONNRESET, timeout, ...). */
  readonly code?: string;
  readonly retryable?: boolean;
  readonly retryAfter?: string;
  readonly body?: unknown;
  /** Reservation ops on ok: the order the API answered with. */
  readonly orderId?: string;
}

export type Entry = InvokeEntry | CompleteEntry;

/** One operation with its completion (a missing completion counts as unknown). */
export interface Operation {
  readonly op: number;
  readonly f: OpKind;
  readonly process: string;
  readonly value: InvokeEntry['value'];
  readonly phase: string;
  readonly invokedAt: number;
  readonly completedAt: number | undefined;
  readonly outcome: Completion;
  readonly status?: number;
  readonly code?: string;
  readonly retryable?: boolean;
  readonly retryAfter?: string;
  readonly body?: unknown;
  readonly orderId?: string;
}

export interface ReservationOperation extends Operation {
  readonly f: 'reserve';
  readonly value: ReservationValue;
}

const sinceStart = (): (() => number) => {
  const started = performance.now();
  return () => Math.round((performance.now() - started) * 1000) / 1000;
};

export class History {
  readonly entries: Entry[] = [];
  private nextOp = 0;
  private readonly open = new Map<number, InvokeEntry>();
  phase = 'run';

  /** `now`: ms since the history began (a synthetic history passes a counter, so its order is exact). */
  constructor(private readonly now: () => number = sinceStart()) {}

  invoke(f: OpKind, process: string, value: InvokeEntry['value']): number {
    const entry: InvokeEntry = { type: 'invoke', op: this.nextOp++, f, process, value, time: this.now(), phase: this.phase };
    this.entries.push(entry);
    this.open.set(entry.op, entry);
    return entry.op;
  }

  complete(op: number, type: Completion, details: Omit<CompleteEntry, 'type' | 'op' | 'f' | 'process' | 'time'> = {}): void {
    const invoked = this.open.get(op);
    if (!invoked) throw new Error(`operation ${op} was not invoked or is already complete`);
    this.open.delete(op);
    this.entries.push({ type, op, f: invoked.f, process: invoked.process, time: this.now(), ...details });
  }

  /** Every operation paired with its completion, in invocation order. */
  operations(): Operation[] {
    const done = new Map<number, CompleteEntry>();
    for (const e of this.entries) if (e.type !== 'invoke') done.set(e.op, e);
    return this.entries
      .filter((e): e is InvokeEntry => e.type === 'invoke')
      .map((inv) => {
        const c = done.get(inv.op);
        const { type: _type, op: _op, f: _f, process: _process, time, ...rest } = c ?? { type: 'unknown' as const, op: inv.op, f: inv.f, process: inv.process, time: undefined };
        return {
          op: inv.op,
          f: inv.f,
          process: inv.process,
          value: inv.value,
          phase: inv.phase,
          invokedAt: inv.time,
          completedAt: time,
          outcome: c?.type ?? 'unknown',
          ...rest,
        };
      });
  }

  reservations(): ReservationOperation[] {
    return this.operations().filter((o): o is ReservationOperation => o.f === 'reserve');
  }

  counts(): Record<Completion, number> & { operations: number } {
    const ops = this.operations();
    return {
      operations: ops.length,
      ok: ops.filter((o) => o.outcome === 'ok').length,
      fail: ops.filter((o) => o.outcome === 'fail').length,
      unknown: ops.filter((o) => o.outcome === 'unknown').length,
    };
  }

  /** A compact, line-per-entry rendering for failure reports (the tail, where the trouble usually is). */
  render(limit = 200): string {
    const lines = this.entries.map((e) =>
      e.type === 'invoke'
        ? `${e.time.toFixed(1).padStart(9)} ${e.process} invoke ${e.f} ${JSON.stringify(e.value)} [${e.phase}]`
        : `${e.time.toFixed(1).padStart(9)} ${e.process} ${e.type} ${e.f} op${e.op} ${e.status ?? ''} ${e.code ?? ''} ${e.orderId ?? ''}`,
    );
    return lines.slice(-limit).join('\n');
  }
}
