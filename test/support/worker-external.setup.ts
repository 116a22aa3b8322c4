/**
 * setupFiles of the `e2e-external` and `chaos-external` jest projects: every server a suite starts through
 * ServerProcess runs with WORKER=external beside a worker process of its own (test/e2e/support/server.ts).
 */
process.env.WORKER = 'external';
