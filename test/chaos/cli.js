#!/usr/bin/env node
/**
 * Long mode of the chaos suite: `npm run chaos -- --runs 200 [--seed S] [jest args…]`.
 * Builds (the specs spawn dist/), then runs the Jest project `chaos` in band with CHAOS_RUNS (fault runs per scenario
 * kind) and CHAOS_SEED (replays a printed seed). Without --runs the specs use their quick defaults, as under `npm test`.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const usage = 'usage: npm run chaos -- [--runs N] [--seed S] [extra jest arguments]';
const args = process.argv.slice(2);
const env = { ...process.env };
const jestArgs = [];
const whole = (flag, value) => {
  if (value === undefined || !/^\d+$/.test(value)) {
    process.stderr.write(`${flag} needs a non-negative integer\n${usage}\n`);
    process.exit(2);
  }
  return value;
};
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const [flag, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
  if (flag === '--runs') env.CHAOS_RUNS = whole('--runs', inline ?? args[++i]);
  else if (flag === '--seed') env.CHAOS_SEED = whole('--seed', inline ?? args[++i]);
  else if (flag === '--help' || flag === '-h') {
    process.stdout.write(usage + '\n');
    process.exit(0);
  } else jestArgs.push(arg);
}

const root = path.resolve(__dirname, '../..');
const run = (cmd, cmdArgs) => {
  const result = spawnSync(cmd, cmdArgs, { cwd: root, env, stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
};

const built = run('npm', ['run', 'build']);
if (built !== 0) process.exit(built);

// A long run takes a while: it runs a private copy of this build (inside the checkout, so node_modules resolve), so
// another `npm run build` in the same checkout meanwhile cannot pull the server or the audit CLI from under it.
const snapshot = path.join(__dirname, `.dist-${process.pid}`);
fs.cpSync(path.join(root, 'dist'), snapshot, { recursive: true });
env.CHAOS_DIST_DIR = snapshot;
const removeSnapshot = () => fs.rmSync(snapshot, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    removeSnapshot();
    process.exit(130);
  });
}

process.stderr.write(`chaos: runs per kind ${env.CHAOS_RUNS ?? 'quick default'}, seed ${env.CHAOS_SEED ?? 'fresh per spec (printed)'}\n`);
let status;
try {
  // --selectProjects takes a list: it goes last, so a test path pattern among the extra arguments stays a pattern.
  status = run('npx', ['jest', '--runInBand', ...jestArgs, '--selectProjects', 'chaos']);
} finally {
  removeSnapshot();
}
process.exit(status);
