/** Layer rules, enforced by a tool rather than by hope (npm run depcruise; each rule is shown firing in
 * test/architecture/layer-rules.int-spec.ts). */

/** The use-case folders of apps/api/src, as a regex alternation: the one place to rename them. */
const USE_CASE_FOLDERS = 'reservations|sales|orders';

module.exports = {
  forbidden: [
    {
      name: 'no-app-imports-another-app',
      comment:
        'An app is a deployable shell: it imports its own files, libs/ and (from its tests) test/, never another app. ' +
        'Code two apps need belongs in a lib. Aliases (@flash/worker) are resolved through tsconfig paths, so they count too.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'api-edge-imports-no-use-case',
      comment: 'The HTTP edge and metrics serve every use case, so they know none of them: use cases plug into the edge, not the reverse.',
      severity: 'error',
      from: { path: '^apps/api/src/(http|metrics)/' },
      to: { path: `^apps/api/src/(${USE_CASE_FOLDERS})/` },
    },
    {
      name: 'domain-is-pure',
      comment: 'libs/domain holds pure deciders: no framework, no I/O, no other layer (no other lib, present or future).',
      severity: 'error',
      from: { path: '^libs/domain/' },
      to: {
        path: [
          '^libs/(?!domain/)',
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
      comment: 'Libraries (their test/ folders included) are used by apps, never the reverse.',
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
