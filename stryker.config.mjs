// Mutation testing (needs npm run build first: the checker's self-test runs the built audit CLI) (npm run mutate; not part of npm test, it is slow). Scores per group and their thresholds are
// checked by scripts/mutation-summary.mjs from the JSON report; the HTML report is written under reports/mutation/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'stryker.jest.config.js', enableFindRelatedTests: false },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'libs/domain/src/**/*.ts',
    'libs/gate/src/**/*.ts',
    'libs/command-side/src/inventory/shard-writer.ts',
    // The checker's judgement (pure, fed synthetic histories by its self-test); the evidence gathering below it (reading
    // the store, retrying and replaying keys against a running server) is exercised by the chaos suites, not here.
    'test/chaos/checker.ts:225-462',
    '!**/*.spec.ts',
    '!**/*.int-spec.ts',
    '!**/index.ts',
  ],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  concurrency: 2,
  timeoutMS: 10000,
  ignorePatterns: ['reports', 'bench/.out', 'data', '.tmp', 'coverage'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  // Results are kept between runs (reports/mutation/stryker-incremental.json): a re-run tests only what changed.
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
};
