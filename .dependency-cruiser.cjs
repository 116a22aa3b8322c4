/** Layer rules, enforced by a tool rather than by hope (npm run depcruise). */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'libs/domain holds pure deciders: no framework, no I/O, no other layer.',
      severity: 'error',
      from: { path: '^libs/domain/src' },
      to: {
        path: [
          '^libs/(event-store|gate|access|read-models)',
          '^apps/',
          'node_modules/(@nestjs|fastify|@fastify|better-sqlite3|ioredis|mongodb|@eventstore|pino|rxjs|class-validator|class-transformer)',
        ],
      },
    },
    {
      name: 'domain-no-node-io',
      comment: 'No file, network, process or timer modules in the domain: time and randomness come in as parameters.',
      severity: 'error',
      from: { path: '^libs/domain/src' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(fs|net|http|https|http2|dgram|child_process|cluster|worker_threads|os|process|timers|dns|tls|crypto)' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'production-code-never-imports-tests',
      comment: 'Test-only stand-ins (wire-level fakes) stay out of apps/ and libs/ (their test/ folders are test code too).',
      severity: 'error',
      from: { path: '^(apps|libs)/', pathNot: '(\\.(spec|int-spec)\\.ts$|^(apps|libs)/[^/]+/test/)' },
      to: { path: '(^test/|/test/|\\.(spec|int-spec)\\.ts$)' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^dist' },
  },
};
