import { CheckReport, CheckViolation, formatViolation } from './checker';
import { History } from './history';

/**
 * The one line each spec prints to stderr at its end:
 * `chaos <kind>: runs R, operations O, unknowns resolved U, faults injected F, violations V, seed S`.
 */
export class ChaosSummary {
  runs = 0;
  operations = 0;
  unknownsResolved = 0;
  faults = 0;
  violations = 0;

  constructor(
    readonly kind: string,
    readonly seed: number,
  ) {}

  add(history: History, report: (Pick<CheckReport, 'unknownsResolved'> & { readonly violations: readonly unknown[] }) | undefined, faults: number, extraViolations = 0): void {
    this.runs++;
    this.operations += history.operations().length;
    this.unknownsResolved += report?.unknownsResolved ?? 0;
    this.faults += faults;
    this.violations += (report?.violations.length ?? 0) + extraViolations;
  }

  line(): string {
    return `chaos ${this.kind}: runs ${this.runs}, operations ${this.operations}, unknowns resolved ${this.unknownsResolved}, faults injected ${this.faults}, violations ${this.violations}, seed ${this.seed}`;
  }

  print(): void {
    process.stderr.write(this.line() + '\n');
  }
}

/** The violations of one run as a readable block (the test fails with it), with how to replay the run. */
export const describeViolations = (title: string, seed: number, violations: ReadonlyArray<string | CheckViolation>, history?: History): string =>
  [
    `${title}: ${violations.length} violation(s) — replay with CHAOS_SEED=${seed}`,
    ...violations.map((v) => `  - ${typeof v === 'string' ? v : formatViolation(v)}`),
    ...(history ? ['history (tail):', history.render(80)] : []),
  ].join('\n');
