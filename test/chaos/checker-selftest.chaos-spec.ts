import { CheckedSale, formatViolation, judgeRun, VIOLATION_KINDS, ViolationKind } from './checker';
import { SyntheticRun } from './synthetic-run';

/**
 * The checker itself is checked, without a server: one minimal synthetic history per kind of violation, each of
 * which must be reported under its name and under no other; and a clean history that must report nothing.
 * (checker-lying-store.chaos-spec.ts does the same end to end for a lost acknowledgement, through a real store.)
 */
interface Case {
  readonly reports: readonly ViolationKind[];
  readonly sale?: Partial<CheckedSale>;
  readonly build: (run: SyntheticRun) => void;
}

const CASES: Record<string, Case> = {
  'a 5xx not marked retryable': {
    reports: ['NOT_RETRYABLE_5XX'],
    build: (run) => {
      run.reserve('alice', 'k1').unknown({ status: 500, code: 'INTERNAL', retryable: false });
      run.retry('alice', 'k1').refused();
    },
  },
  'a 503 without Retry-After': {
    reports: ['NO_RETRY_AFTER'],
    build: (run) => {
      run.reserve('alice', 'k1').unknown({ status: 503, code: 'GATE_UNAVAILABLE', retryable: true });
      run.retry('alice', 'k1').refused();
    },
  },
  'a retryable 500 while only 503 may come': {
    reports: ['NOT_503_DURING_FAULT'],
    build: (run) => {
      run.only503 = true;
      run.reserve('alice', 'k1').unknown({ status: 500, code: 'INTERNAL', retryable: true });
      run.retry('alice', 'k1').refused();
    },
  },
  'an acknowledgement the store never got': {
    reports: ['LOST_ACK'],
    build: (run) => run.reserve('alice', 'k1').ok(),
  },
  'an acknowledgement missing as the run left the store, re-created by the checker': {
    reports: ['LOST_ACK'],
    build: (run) => {
      run.reserve('alice', 'k1').ok();
      run.place('alice', 'k1', { seen: 'only-after-check' });
    },
  },
  'an acknowledgement gone from the store after the check': {
    reports: ['LOST_ACK'],
    build: (run) => {
      run.reserve('alice', 'k1').ok();
      run.place('alice', 'k1', { seen: 'only-before-check' });
    },
  },
  "an acknowledgement of the checker's retry that the store does not hold": {
    reports: ['LOST_ACK'],
    build: (run) => {
      run.reserve('alice', 'k1').unknown();
      run.retry('alice', 'k1').ok();
    },
  },
  'an unknown outcome that no retry settles': {
    reports: ['NEVER_SETTLED'],
    build: (run) => {
      run.reserve('alice', 'k1').unknown();
      run.retry('alice', 'k1').unknown();
      run.retry('alice', 'k1').unknown({ status: 503, code: 'GATE_UNAVAILABLE', retryable: true, retryAfter: '1' });
    },
  },
  'a replay refused': {
    reports: ['REPLAY_REFUSED'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.replay('alice', 'k1').refused('PER_USER_LIMIT');
    },
  },
  'a replay answered with another order': {
    reports: ['REPLAY_MISMATCH'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.replay('alice', 'k1').ok({ shard: 1 }, 200);
    },
  },
  'a replay answered 201, as if new': {
    reports: ['REPLAY_NOT_200'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.replay('alice', 'k1').ok({}, 201);
    },
  },
  'an order placed twice': {
    reports: ['DUPLICATE_ORDER'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.place('alice', 'k1');
    },
  },
  'a hold expired twice': {
    reports: ['DOUBLE_EXPIRY'],
    build: (run) => {
      const order = run.buy('alice', 'k1');
      run.expire(order);
      run.expire(order, 5000);
    },
  },
  'a hold expired a millisecond before its deadline': {
    reports: ['EARLY_EXPIRY'],
    build: (run) => run.expire(run.buy('alice', 'k1'), -1),
  },
  'one key sent with two quantities': {
    reports: ['KEY_REUSED'],
    build: (run) => {
      run.reserve('alice', 'k1', 1).refused();
      run.reserve('alice', 'k1', 2).refused();
    },
  },
  'one key acknowledged twice, differently': {
    reports: ['ACK_CONFLICT'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.reserve('alice', 'k1').ok({ shard: 3 }, 200);
    },
  },
  'one key acknowledged, then refused': {
    reports: ['REFUSED_AFTER_ACK'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.reserve('alice', 'k1').refused('SOLD_OUT');
    },
  },
  'an acknowledgement with an order id that is not the reservation id (and is in no store)': {
    reports: ['WRONG_ORDER_ID', 'LOST_ACK'],
    build: (run) => {
      run.reserve('alice', 'k1').ok({ orderId: 'not-an-order' });
      run.place('alice', 'k1');
    },
  },
  'an acknowledgement for another sale than asked': {
    reports: ['ANSWER_VS_REQUEST'],
    build: (run) => {
      run.reserve('alice', 'k1').ok({ saleId: 'another-sale' });
      run.place('alice', 'k1');
    },
  },
  'an acknowledgement that disagrees with the stored order': {
    reports: ['ANSWER_VS_STORE'],
    build: (run) => {
      run.reserve('alice', 'k1').ok({ shard: 1 });
      run.place('alice', 'k1', { shard: 0 });
    },
  },
  'an owner who cannot read their acknowledged order': {
    reports: ['READ_YOUR_WRITES'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.ownerRead('alice', 'k1', { status: 404, body: { error: { code: 'ORDER_NOT_FOUND' } } });
    },
  },
  'an owner reading another quantity than acknowledged': {
    reports: ['READ_YOUR_WRITES'],
    build: (run) => {
      run.buy('alice', 'k1');
      run.ownerRead('alice', 'k1', { status: 200, body: { orderId: run.orderId('alice', 'k1'), userId: 'alice', quantity: 2, shard: 0 } });
    },
  },
  'an order in the store for a refused key': {
    reports: ['ORDER_DESPITE_REFUSAL'],
    build: (run) => {
      run.reserve('bob', 'k1').refused('SOLD_OUT');
      run.place('bob', 'k1');
    },
  },
  'an order in the store for a key whose retry was refused': {
    reports: ['ORDER_DESPITE_REFUSAL'],
    build: (run) => {
      run.reserve('bob', 'k1').unknown();
      run.retry('bob', 'k1').refused('SOLD_OUT');
      run.place('bob', 'k1');
    },
  },
  'an order nobody asked for': {
    reports: ['UNREQUESTED_ORDER'],
    build: (run) => run.place('mallory', 'never-sent'),
  },
  'a buyer above the per-user limit': {
    reports: ['PER_USER_LIMIT'],
    sale: { perUserLimit: 1 },
    build: (run) => {
      run.buy('alice', 'k1');
      run.buy('alice', 'k2');
    },
  },
  'more units held than the stock (the audit counts them too)': {
    reports: ['OVERSOLD', 'AUDIT_HELD_ABOVE_ALLOCATED'],
    sale: { totalStock: 1 },
    build: (run) => {
      run.buy('alice', 'k1');
      run.buy('bob', 'k2');
    },
  },
  'the audit CLI exiting non-zero': {
    reports: ['AUDIT_FAILED'],
    build: (run) => run.audit({ exitCode: 1, stderr: 'invariant never-oversold broken' }),
  },
  'an audit that does not list the sale': {
    reports: ['AUDIT_MISSING_SALE'],
    build: (run) => run.audit({ sale: 'missing' }),
  },
  'an audit with another allocation than the stock': {
    reports: ['AUDIT_ALLOCATION'],
    build: (run) => run.audit({ sale: { allocated: 9 } }),
  },
  'an audit holding units no live order holds': {
    reports: ['AUDIT_VS_ORDERS'],
    build: (run) => {
      run.cancel(run.buy('alice', 'k1'));
      run.audit({ sale: { reserved: 1, released: 0 } });
    },
  },
  'units left after demand exceeded stock': {
    reports: ['NOT_SOLD_OUT'],
    sale: { totalStock: 2 },
    build: (run) => {
      run.expectSoldOut = true;
      run.buy('alice', 'k1');
      run.reserve('bob', 'k2').refused('SOLD_OUT');
    },
  },
};

const kindsReported = (run: SyntheticRun): ViolationKind[] => [...new Set(judgeRun(run.evidence()).violations.map((v) => v.kind))].sort();

describe('chaos checker self-test: each kind of violation is reported by its name', () => {
  it('a clean history reports nothing', () => {
    const run = new SyntheticRun({ totalStock: 4, perUserLimit: 2 });
    run.only503 = true;
    run.expectSoldOut = true;
    run.buy('alice', 'a1', 2);
    run.reserve('bob', 'b1').refused('SOLD_OUT');
    run.reserve('bob', 'b2').unknown({ status: 503, code: 'GATE_UNAVAILABLE', retryable: true, retryAfter: '1' });
    run.reserve('bob', 'b2').unknown();
    run.reserve('carol', 'c1').unknown();
    run.reserve('dave', 'd1').unknown();
    run.expire(run.buy('erin', 'e1'));
    run.cancel(run.buy('frank', 'f1'));
    run.buy('erin', 'e2');
    run.reserve('alice', 'a1', 2).ok({}, 200); // a client retry answered as the first
    run.retry('bob', 'b2').unknown();
    run.retry('bob', 'b2').refused('SOLD_OUT');
    run.retry('carol', 'c1').ok();
    run.place('carol', 'c1', { seen: 'only-after-check' }); // placed by the checker's retry
    run.retry('dave', 'd1').refused('SOLD_OUT');

    const report = judgeRun(run.evidence());
    expect(report.violations.map(formatViolation)).toEqual([]);
    expect({ okKeys: report.okKeys, unknownKeys: report.unknownKeys, unknownsResolved: report.unknownsResolved }).toEqual({ okKeys: 5, unknownKeys: 3, unknownsResolved: 3 });
  });

  it.each(Object.entries(CASES).map(([name, c]) => [`${name} → ${c.reports.join(', ')}`, c] as const))('%s', (_name, { reports, sale, build }) => {
    const run = new SyntheticRun(sale);
    build(run);
    expect(kindsReported(run)).toEqual([...reports].sort());
  });

  // The report is what an operator reads after a failed chaos run: each case's lines are held to the text committed
  // in __snapshots__ (a changed message is a reviewed change of the snapshot, never an accident).
  it('words each report as committed, naming the key, order and figures involved', () => {
    const lines = Object.fromEntries(
      Object.entries(CASES).map(([name, { sale, build }]) => {
        const run = new SyntheticRun(sale);
        build(run);
        return [name, judgeRun(run.evidence()).violations.map(formatViolation)];
      }),
    );
    expect(lines).toMatchSnapshot();
  });

  it('every kind of violation the checker has is shown to fire by a case above', () => {
    const shown = new Set(Object.values(CASES).flatMap((c) => c.reports));
    expect(VIOLATION_KINDS.filter((kind) => !shown.has(kind))).toEqual([]);
  });
});
