import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeRequiring } from '../support/ci';

const ROOT = path.resolve(__dirname, '../..');
const PROMETHEUS = path.join(ROOT, 'infra/prometheus');
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

const promtoolAvailable = (): boolean => spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore' }).status === 0;

const promtool = (...args: string[]): { status: number | null; output: string } => {
  const run = spawnSync(PROMTOOL, args, { cwd: PROMETHEUS, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
};

const alertNames = (yaml: string): string[] => [...yaml.matchAll(/^\s*-\s*alert:\s*(\S+)\s*$/gm)].map((m) => m[1] as string);

/** The Prometheus configuration and alert rules CI ships (infra/prometheus) are valid, and each alert is tested and documented. */
describeRequiring({ what: `promtool (apt-get install prometheus)`, available: promtoolAvailable }, 'infra/prometheus with promtool', () => {
  it('the scrape config is valid, with the rule files it names', () => {
    const run = promtool('check', 'config', 'prometheus.yml');
    expect(run).toMatchObject({ status: 0 });
    expect(run.output).toContain('SUCCESS: 1 rule files found');
  });

  it('the alert rules are valid', () => {
    const run = promtool('check', 'rules', 'alerts.yml');
    expect(run).toMatchObject({ status: 0 });
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('every alert fires and stays quiet as its promtool unit tests expect', () => {
    const run = promtool('test', 'rules', 'alerts.test.yml');
    if (run.status !== 0) throw new Error(`promtool test rules failed:\n${run.output}`);
    expect(run.output).toContain('SUCCESS');
  });

  it('every alert has a unit test and an entry in the README runbook', () => {
    const alerts = alertNames(fs.readFileSync(path.join(PROMETHEUS, 'alerts.yml'), 'utf8'));
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const tests = fs.readFileSync(path.join(PROMETHEUS, 'alerts.test.yml'), 'utf8');
    const tested = new Set([...tests.matchAll(/alertname:\s*(\S+)/g)].map((m) => m[1]));
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
    expect(alerts.filter((a) => !readme.includes(`#### Alert: ${a}`))).toEqual([]);
  });
});
