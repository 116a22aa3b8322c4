/** Jest projects: unit (*.spec.ts beside the code), integration (*.int-spec.ts), end-to-end (test/e2e, spawns the built server),
 * chaos (test/chaos: faults and hostile input against the built server; quick mode here, long mode via `npm run chaos`).
 * e2e-external and chaos-external run the same suites with the api on WORKER=external beside a worker process
 * (test/support/worker-external.setup.ts), except those that do not start the built api through ServerProcess.
 * e2e-postgres runs the crash, expiry and drain suites with the api (and its worker, where a suite has one) on a
 * PostgreSQL database of each server's own (test/support/eventstore-postgres.setup.ts); e2e-esdb the same suites on an
 * EventStoreDB stand-in of each server's own (test-only, not EventStoreDB: test/support/eventstore-esdb.setup.ts). */
const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
    },
    module: { type: 'commonjs' },
  },
];

const moduleNameMapper = {
  '^@flash/(domain|event-store|gate|access|read-models|command-side|sagas|runtime)$': '<rootDir>/libs/$1/src',
};

/**
 * jose and content-disposition (under @fastify/static, which serves /docs) ship ES modules only: Node requires them
 * natively (20.19+), Jest's module system needs them as CommonJS.
 */
const swcEsm = ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'ecmascript' } }, module: { type: 'commonjs' } }];

const base = {
  transform: { '^.+\\.ts$': swc, '/node_modules/(jose|content-disposition)/.+\\.js$': swcEsm },
  transformIgnorePatterns: ['/node_modules/(?!(jose|content-disposition)/)'],
  moduleNameMapper,
  testEnvironment: 'node',
  rootDir: __dirname,
  // Stryker's sandboxes (npm run mutate) hold a copy of the repository: never a second set of tests or modules.
  modulePathIgnorePatterns: ['<rootDir>/.stryker-tmp/'],
};

module.exports = {
  testTimeout: 120000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...base, displayName: 'int', testMatch: ['<rootDir>/{apps,libs,test}/**/*.int-spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'] },
    { ...base, displayName: 'chaos', testMatch: ['<rootDir>/test/chaos/**/*.chaos-spec.ts'] },
    {
      ...base,
      displayName: 'e2e-external',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      setupFiles: ['<rootDir>/test/support/worker-external.setup.ts'],
      testPathIgnorePatterns: [
        // Chooses its own mode (api and worker as two processes, in every project).
        '<rootDir>/test/e2e/worker-process\\.e2e-spec\\.ts$',
        // Runs its api on WORKER=external with a worker serving WORKER_METRICS_PORT, in every project.
        '<rootDir>/test/e2e/worker-metrics\\.e2e-spec\\.ts$',
        // Runs two api replicas on WORKER=external with a worker each, in every project.
        '<rootDir>/test/e2e/cluster\\.e2e-spec\\.ts$',
        // Runs `npm run bench -- --smoke`, which starts its own servers (embedded): nothing here to run externally.
        '<rootDir>/test/e2e/bench-harness\\.e2e-spec\\.ts$',
        // Starts two api replicas of its own on one PostgreSQL store and one Redis (embedded workers): four processes with
        // a worker each would be too many for the machine, and the worker split is no part of what it shows.
        '<rootDir>/test/e2e/waiting-room-replicas\\.e2e-spec\\.ts$',
        // Runs `npm run simulate -- --room`, which starts its own server (embedded), like the bench harness.
        '<rootDir>/test/e2e/simulate-room\\.e2e-spec\\.ts$',
      ],
    },
    {
      ...base,
      displayName: 'e2e-postgres',
      // The flash sale and its SIGKILL, expiry and SIGKILL with holds pending, the SIGTERM drain, the worker SIGKILLed.
      testMatch: ['<rootDir>/test/e2e/{reservations,sagas,lifecycle,worker-process}.e2e-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/eventstore-postgres.setup.ts'],
    },
    {
      ...base,
      displayName: 'e2e-esdb',
      // The same suites with the api (and its worker) on an EventStoreDB stand-in of each server's own (test-only, not
      // EventStoreDB: test/support/eventstore-esdb.setup.ts).
      testMatch: ['<rootDir>/test/e2e/{reservations,sagas,lifecycle,worker-process}.e2e-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/eventstore-esdb.setup.ts'],
    },
    {
      ...base,
      displayName: 'chaos-external',
      testMatch: ['<rootDir>/test/chaos/**/*.chaos-spec.ts'],
      setupFiles: ['<rootDir>/test/support/worker-external.setup.ts'],
      // These build the app in-process (test/chaos/in-process-app.ts): embedded by construction; the checker's self-test starts no server.
      testPathIgnorePatterns: ['<rootDir>/test/chaos/(faults-clock|faults-store|checker-lying-store|checker-selftest)\\.chaos-spec\\.ts$'],
    },
  ],
};
