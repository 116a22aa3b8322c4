import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runUntilExit } from './support/server';
import { freePort } from '../support/free-port';

/** API.md: a malformed or unreachable EVENTSTORE_URL stops the start, naming the variable; never a silent fallback. */
describe('EVENTSTORE_URL at start', () => {
  it.each([
    ['a PostgreSQL server nobody answers at', 'postgres://127.0.0.1:1/x', /EVENTSTORE_URL: cannot open the PostgreSQL event store at postgres:\/\/127\.0\.0\.1:1\/x/],
    ['a URL of no store at all', 'nonsense', /EVENTSTORE_URL must be a postgres:\/\/, postgresql:\/\/, esdb:\/\/ or kurrentdb:\/\/ URL/],
    ['an EventStoreDB server nobody answers at', 'esdb://127.0.0.1:1?tls=false', /EVENTSTORE_URL: cannot reach EventStoreDB at esdb:\/\/127\.0\.0\.1:1\?tls=false/],
    ['a KurrentDB server nobody answers at', 'kurrentdb://127.0.0.1:1?tls=false', /EVENTSTORE_URL: cannot reach EventStoreDB at kurrentdb:\/\/127\.0\.0\.1:1\?tls=false/],
    ['a malformed EventStoreDB URL', 'esdb://', /EVENTSTORE_URL: cannot use the EventStoreDB URL esdb:\/\//],
  ])('with %s the api exits non-zero within 10 s, naming EVENTSTORE_URL, and writes nothing to DATA_DIR', async (_label, url, message) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-eventstore-url-'));
    try {
      // runUntilExit fails the test when the process is still running at the 10 s deadline.
      const { code, output } = await runUntilExit({ DEMO: '1', PORT: String(await freePort()), DATA_DIR: dataDir, EVENTSTORE_URL: url }, 10_000);
      expect(code).not.toBe(0);
      expect(output).toMatch(message);
      expect(fs.readdirSync(dataDir)).toEqual([]);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
