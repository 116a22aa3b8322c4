import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * Each layer rule of .dependency-cruiser.cjs, shown firing on a purpose-made violation and staying quiet on its compliant
 * twin. The fixtures are small throw-away repositories in the OS temp folder, cruised by the real CLI with a copy of the
 * real config: the state of apps/ and libs/ plays no part.
 */

const REPO_ROOT = resolve(__dirname, '../..');
const DEPCRUISE = join(REPO_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** The same alias shapes as the real tsconfig: libs by name, and one app reachable by an alias too. */
const FIXTURE_TSCONFIG = {
  compilerOptions: {
    module: 'commonjs',
    moduleResolution: 'node',
    baseUrl: './',
    paths: {
      '@flash/domain': ['libs/domain/src'],
      '@flash/event-store': ['libs/event-store/src'],
      '@flash/ledger': ['libs/ledger/src'],
      '@flash/worker': ['apps/worker/src'],
    },
  },
};

/** Mirrors USE_CASE_FOLDERS in .dependency-cruiser.cjs: rename there, rename here. */
const USE_CASE_FOLDERS = ['reservations', 'sales', 'orders'] as const;

interface Dependency {
  from: string;
  to: string;
}
interface CruiseOutcome {
  violations: Array<Dependency & { rule: string }>;
  resolved: Dependency[];
  unresolved: Dependency[];
}
interface CruiseJson {
  modules: Array<{ source: string; dependencies: Array<{ module: string; resolved: string; couldNotResolve: boolean }> }>;
  summary: { violations: Array<{ from: string; to: string; rule: { name: string } }> };
}

/** Files every fixture has: the targets the planted imports point at. */
const TARGETS: Record<string, string> = {
  'apps/api/src/clock.ts': 'export const clock = 1;\n',
  'apps/worker/src/index.ts': 'export const worker = 1;\n',
  'libs/domain/src/index.ts': 'export const domain = 1;\n',
  'libs/domain/src/decider.ts': 'export const decider = 1;\n',
  'libs/event-store/src/index.ts': 'export const eventStore = 1;\n',
  'libs/ledger/src/index.ts': 'export const ledger = 1;\n',
  'test/support/eventually.ts': 'export const eventually = 1;\n',
  ...Object.fromEntries(USE_CASE_FOLDERS.map((folder) => [`apps/api/src/${folder}/${folder}.handler.ts`, 'export const handler = 1;\n'])),
};

interface RuleCase {
  rule: string;
  /** file → import specifiers; every import of these files breaks `rule` and nothing else. */
  violations: Record<string, string[]>;
  /** file → import specifiers a compliant twin makes; none breaks any rule. */
  twins: Record<string, string[]>;
}

const useCase = (folder: string): string => `../${folder}/${folder}.handler`;

const CASES: RuleCase[] = [
  {
    rule: 'no-app-imports-another-app',
    violations: {
      'apps/audit/src/log-source.ts': ['../../api/src/clock'],
      'apps/api/src/sagas/saga-host.ts': ['@flash/worker'],
      'apps/worker/test/saga-fixture.ts': ['../../api/src/clock'],
      // A name sharing a prefix with another app is still another app.
      'apps/api-admin/src/main.ts': ['../../api/src/clock'],
    },
    twins: {
      'apps/api/src/sagas/saga-host.ts': ['../clock', '@flash/domain', '@flash/event-store'],
      'apps/worker/test/saga-fixture.ts': ['../src/index', '@flash/domain', '../../../test/support/eventually'],
      'apps/audit/src/log-source.ts': ['@flash/event-store', '../../../libs/domain/src/decider'],
    },
  },
  {
    rule: 'libs-do-not-import-apps',
    violations: {
      'libs/event-store/src/sqlite-event-store.ts': ['../../../apps/api/src/clock'],
      'libs/event-store/test/event-store.contract.ts': ['../../../apps/worker/src/index'],
    },
    twins: {
      'libs/event-store/src/sqlite-event-store.ts': ['@flash/domain', './index'],
      'libs/event-store/test/event-store.contract.ts': ['../src/index', '../../../test/support/eventually'],
    },
  },
  {
    rule: 'api-edge-imports-no-use-case',
    violations: {
      'apps/api/src/http/readiness.guard.ts': [useCase('sales'), useCase('reservations')],
      'apps/api/src/metrics/metrics.service.ts': [useCase('orders')],
    },
    twins: {
      'apps/api/src/http/readiness.guard.ts': ['./error-catalogue', '../clock', '@flash/domain'],
      'apps/api/src/http/error-catalogue.ts': [],
      'apps/api/src/metrics/metrics.service.ts': ['../clock', '@flash/event-store'],
      // The other way round is the point: use cases plug into the edge.
      'apps/api/src/sales/schedule-sale.controller.ts': ['../http/error-catalogue', './sales.handler'],
    },
  },
  {
    rule: 'domain-is-pure',
    violations: {
      'libs/domain/src/sale.decider.ts': ['@flash/ledger'],
      'libs/domain/src/buyer.decider.ts': ['../../event-store/src/index'],
      'libs/domain/test/decider-spec.ts': ['@flash/event-store'],
    },
    twins: {
      'libs/domain/src/sale.decider.ts': ['./decider'],
      'libs/domain/test/decider-spec.ts': ['../src/decider', '@flash/domain'],
    },
  },
];

const source = (imports: string[]): string =>
  imports.map((specifier, i) => `import * as imported${i} from '${specifier}';\n`).join('') +
  `export const uses = [${imports.map((_, i) => `imported${i}`).join(', ')}];\n`;

/** Writes a fixture repository and cruises it the way `npm run depcruise` cruises the real one. */
const cruise = async (root: string, files: Record<string, string[]>): Promise<CruiseOutcome> => {
  mkdirSync(root, { recursive: true });
  copyFileSync(join(REPO_ROOT, '.dependency-cruiser.cjs'), join(root, '.dependency-cruiser.cjs'));
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify(FIXTURE_TSCONFIG));
  const contents = { ...TARGETS, ...Object.fromEntries(Object.entries(files).map(([file, imports]) => [file, source(imports)])) };
  for (const [file, content] of Object.entries(contents)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), content);
  }
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(process.execPath, [DEPCRUISE, 'apps', 'libs', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
      cwd: root,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', fail);
    // depcruise exits with the number of errors: the JSON report is what we read.
    child.on('close', () => done({ stdout: out, stderr: err }));
  });
  let json: CruiseJson;
  try {
    json = JSON.parse(stdout) as CruiseJson;
  } catch {
    throw new Error(`dependency-cruiser gave no JSON report; stderr:\n${stderr}`);
  }
  const dependencies = json.modules.flatMap((m) =>
    m.dependencies.map((d) => ({ from: m.source, to: d.couldNotResolve ? d.module : d.resolved, couldNotResolve: d.couldNotResolve })),
  );
  return {
    violations: json.summary.violations.map((v) => ({ from: v.from, to: v.to, rule: v.rule.name })),
    resolved: dependencies.filter((d) => !d.couldNotResolve).map(({ from, to }) => ({ from, to })),
    unresolved: dependencies.filter((d) => d.couldNotResolve).map(({ from, to }) => ({ from, to })),
  };
};

const mergedFiles = (pick: (c: RuleCase) => Record<string, string[]>): Record<string, string[]> => {
  const merged: Record<string, string[]> = {};
  for (const c of CASES) for (const [file, imports] of Object.entries(pick(c))) merged[file] = [...(merged[file] ?? []), ...imports];
  return merged;
};

const filesOf = (c: RuleCase, pick: (c: RuleCase) => Record<string, string[]>): string[] => Object.keys(pick(c));

describe('layer rules (.dependency-cruiser.cjs)', () => {
  const workDir = mkdtempSync(join(tmpdir(), 'layer-rules-'));
  let breaking: CruiseOutcome;
  let compliant: CruiseOutcome;

  beforeAll(async () => {
    [breaking, compliant] = await Promise.all([
      cruise(join(workDir, 'breaking'), mergedFiles((c) => c.violations)),
      cruise(join(workDir, 'compliant'), mergedFiles((c) => c.twins)),
    ]);
  });
  afterAll(() => rmSync(workDir, { recursive: true, force: true }));

  it('resolves every planted import, aliases included (a typo would make a fixture prove nothing)', () => {
    expect(breaking.unresolved).toEqual([]);
    expect(compliant.unresolved).toEqual([]);
    expect(breaking.resolved).toContainEqual({ from: 'apps/api/src/sagas/saga-host.ts', to: 'apps/worker/src/index.ts' });
    expect(breaking.resolved).toContainEqual({ from: 'libs/domain/src/sale.decider.ts', to: 'libs/ledger/src/index.ts' });
  });

  describe.each(CASES)('$rule', (c) => {
    it('reports each planted violation under this rule and no other', () => {
      const planted = filesOf(c, (x) => x.violations);
      const reported = breaking.violations.filter((v) => planted.includes(v.from));
      expect(reported.length).toBeGreaterThan(0);
      expect(reported.map((v) => v.rule)).toEqual(reported.map(() => c.rule));
      // Every import of every planted file is reported: none slips through.
      const importsOfPlanted = breaking.resolved.filter((d) => planted.includes(d.from));
      expect(reported.map(({ from, to }) => ({ from, to })).sort(byPair)).toEqual([...importsOfPlanted].sort(byPair));
      expect(importsOfPlanted).toHaveLength(Object.values(c.violations).flat().length);
    });

    it('reports nothing for its compliant twin', () => {
      const twins = filesOf(c, (x) => x.twins);
      expect(compliant.violations.filter((v) => twins.includes(v.from))).toEqual([]);
      expect(compliant.resolved.filter((d) => twins.includes(d.from)).length).toBeGreaterThan(0);
    });
  });

  it('finds nothing at all in the compliant tree', () => {
    expect(compliant.violations).toEqual([]);
  });
});

const byPair = (a: Dependency, b: Dependency): number => `${a.from} ${a.to}`.localeCompare(`${b.from} ${b.to}`);
