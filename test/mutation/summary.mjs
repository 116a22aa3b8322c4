// Mutation score per group from Stryker's JSON report (npm run mutate), checked against the thresholds of issue #28.
// Score = detected (killed + timed out) / (detected + undetected (survived + no coverage)), as Stryker computes it;
// mutants that do not compile or are ignored do not count. Writes reports/mutation/SUMMARY.md and exits 1 below a threshold.
import { readFileSync, writeFileSync } from 'node:fs';

const GROUPS = [
  { name: 'domain (libs/domain)', match: (f) => f.startsWith('libs/domain/'), threshold: 85 },
  { name: 'gate (libs/gate)', match: (f) => f.startsWith('libs/gate/'), threshold: 75 },
  { name: 'shard writer', match: (f) => f.endsWith('inventory/shard-writer.ts'), threshold: 75 },
  { name: 'chaos checker', match: (f) => f === 'test/chaos/checker.ts', threshold: 75 },
];

const report = JSON.parse(readFileSync('reports/mutation/mutation.json', 'utf8'));
const tally = () => ({ killed: 0, timeout: 0, survived: 0, noCoverage: 0, other: 0 });
const keyOf = { Killed: 'killed', Timeout: 'timeout', Survived: 'survived', NoCoverage: 'noCoverage' };
const perFile = new Map();
for (const [file, { mutants }] of Object.entries(report.files)) {
  const t = tally();
  for (const m of mutants) t[keyOf[m.status] ?? 'other']++;
  perFile.set(file.replace(/^\.\//, ''), t);
}
const score = (t) => {
  const detected = t.killed + t.timeout;
  const total = detected + t.survived + t.noCoverage;
  return total === 0 ? NaN : (100 * detected) / total;
};
const add = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] + b[k]]));

const lines = ['| group | files | killed | timed out | survived | no coverage | score | threshold | |', '|---|---|---|---|---|---|---|---|---|'];
let failed = false;
for (const g of GROUPS) {
  const files = [...perFile].filter(([f]) => g.match(f));
  const t = files.reduce((acc, [, x]) => add(acc, x), tally());
  const s = score(t);
  const ok = s >= g.threshold;
  failed ||= !ok;
  lines.push(`| ${g.name} | ${files.length} | ${t.killed} | ${t.timeout} | ${t.survived} | ${t.noCoverage} | ${s.toFixed(1)}% | ≥ ${g.threshold}% | ${ok ? 'met' : '**missed**'} |`);
}
const fileLines = ['', '| file | score | survived |', '|---|---|---|'];
for (const [f, t] of [...perFile].sort()) fileLines.push(`| ${f} | ${score(t).toFixed(1)}% | ${t.survived + t.noCoverage} |`);
const text = `${lines.join('\n')}\n${fileLines.join('\n')}\n`;
writeFileSync('reports/mutation/SUMMARY.md', text);
process.stdout.write(`\n${text}`);
process.exit(failed ? 1 : 0);
