#!/usr/bin/env node
/**
 * Runs the TEST-ONLY EventStoreDB stand-in (NOT EventStoreDB) as its own process, from its TypeScript sources:
 * compiles each .ts file on require with @swc/core (the compiler Jest already uses here), then loads child.ts.
 * `node test/support/esdb-stand-in/cli.js [--port N] [--no-batch-append] [--stats-period-ms N] [--max-append-size BYTES]`.
 */
'use strict';
const Module = require('node:module');
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

Module._extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

require('./child.ts');
