import { ChildProcessByStdio, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CommitProxy, describeWithPostgres, TestDatabase, withDatabase } from '../../libs/event-store/test/postgres-support';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { RedisServer } from '../support/redis-server';
import { ApiClient, ApiResponse } from './support/client';
import { ServerProcess } from './support/server';

/** The dependencies /health/ready names, each an indicator of the @nestjs/terminus shape. */
const DEPENDENCIES = ['store', 'catalog', 'gate', 'projections', 'worker'];

const readyOf = (client: ApiClient): Promise<ApiResponse> => client.request('GET', '/health/ready');

/** A 200: status ok, every dependency up in info and details, nothing in error. */
const expectReady = (res: ApiResponse): void => {
  expect({ status: res.status, bodyStatus: res.body.status, error: res.body.error }).toEqual({ status: 200, bodyStatus: 'ok', error: {} });
  expect(Object.keys(res.body.details).sort()).toEqual([...DEPENDENCIES].sort());
  expect(Object.keys(res.body.info).sort()).toEqual([...DEPENDENCIES].sort());
  for (const name of DEPENDENCIES) expect({ name, status: res.body.details[name].status }).toEqual({ name, status: 'up' });
};

/** A 503 naming `down` (and maybe more) as down, in error and details, beside the envelope's NOT_READY. */
const expectNotReady = (res: ApiResponse, down: string): void => {
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBe('1');
  expect(res.body.status).toBe('error');
  expect(res.body.error).toMatchObject({ code: 'NOT_READY', retryable: true, [down]: { status: 'down', message: expect.any(String) } });
  expect(res.body.error.message).toContain(down);
  expect(res.body.details[down]).toEqual(res.body.error[down]);
  expect(res.body.info[down]).toBeUndefined();
  expect(Object.keys(res.body.details).sort()).toEqual([...DEPENDENCIES].sort());
};

describe('/health/live', () => {
  const server = new ServerProcess({ label: 'health-live' });
  let client: ApiClient;
  beforeAll(async () => {
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
  });

  it('stays trivial: ok, nothing checked', async () => {
    const res = await client.request('GET', '/health/live');
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: 'ok', info: {}, error: {}, details: {} } });
  });
});

RedisServer.describeWithRedis('/health/ready with the Redis gate (REDIS_URL)', () => {
  const redis = new RedisServer();
  const server = new ServerProcess({ label: 'health-redis' });
  let client: ApiClient;
  beforeAll(async () => {
    await redis.start();
    await server.start({ REDIS_URL: redis.url });
    client = new ApiClient(server.baseUrl, server.jwtSecret);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    await redis.stop();
    server.cleanup();
  });

  it('names every dependency up, then the gate down with 503 while Redis is dead, then up again once it is back', async () => {
    const before = await readyOf(client);
    expectReady(before);
    expect(before.body.details.gate).toEqual({ status: 'up', kind: 'redis' });
    expect(before.body.details.store.head).toEqual(expect.any(Number));

    await redis.stop();
    let last: ApiResponse | undefined;
    await eventually('/health/ready to answer 503', async () => (last = await readyOf(client)).status === 503, { intervalMs: 100, seen: () => last?.body });
    expectNotReady(last!, 'gate');
    // The others are still up, and say so.
    expect(last!.body.info.store.status).toBe('up');

    await redis.start();
    await eventually('/health/ready to answer 200 again', async () => (last = await readyOf(client)).status === 200, { intervalMs: 100, seen: () => last?.body });
    expectReady(last!);
  });
});

describeWithPostgres('/health/ready with the PostgreSQL store (EVENTSTORE_URL)', () => {
  const database = new TestDatabase();
  let proxy: CommitProxy;
  const server = new ServerProcess({ label: 'health-pg' });
  let client: ApiClient;
  beforeAll(async () => {
    await database.create();
    proxy = await CommitProxy.start(database.url);
    await server.start({ EVENTSTORE_URL: withDatabase(database.url, database.name, proxy.port) });
    client = new ApiClient(server.baseUrl, server.jwtSecret);
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop('SIGKILL', { worker: true });
    await proxy.close();
    await database.drop();
    server.cleanup();
  });

  it('names the store down with 503 once the database cannot be reached, and the process stays alive', async () => {
    expectReady(await readyOf(client));
    await proxy.close(); // every connection cut, no new one accepted
    let last: ApiResponse | undefined;
    await eventually('/health/ready to answer 503', async () => (last = await readyOf(client)).status === 503, { intervalMs: 100, seen: () => last?.body });
    expectNotReady(last!, 'store');
    expect(last!.body.error.store.message).toMatch(/^the event store does not answer/);
    expect((await client.request('GET', '/health/live')).status).toBe(200);
  });
});

/** The built api and worker as plain processes: ServerProcess would start the worker before waiting for readiness. */
describe('/health/ready with WORKER=external', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-worker-'));
  const children: ChildProcessByStdio<null, Readable, Readable>[] = [];
  let output = '';
  let client: ApiClient;
  let env: Record<string, string>;

  const run = (entry: string, extra: Record<string, string> = {}): ChildProcessByStdio<null, Readable, Readable> => {
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../dist/apps', entry)], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    const port = await freePort();
    env = {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      JWT_SECRET: `health-secret-${randomBytes(16).toString('hex')}`,
      PAYMENT_WEBHOOK_SECRET: `health-webhook-${randomBytes(16).toString('hex')}`,
      DEMO: '0',
      LOG_LEVEL: 'warn',
      WORKER: 'external',
    };
    run('api/src/main.js', { PORT: String(port) });
    client = new ApiClient(`http://127.0.0.1:${port}`, env.JWT_SECRET!);
    await eventually('the api to listen', async () => (await client.request('GET', '/health/live').catch(() => undefined))?.status === 200, {
      intervalMs: 50,
      seen: () => output,
    });
  });
  afterAll(async () => {
    await client.destroy();
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('names the worker down with 503 until a worker runs, then its report up', async () => {
    const alone = await readyOf(client);
    expectNotReady(alone, 'worker');
    expect(alone.body.error.worker).toMatchObject({ mode: 'external', message: expect.stringContaining('has not reported') });
    expect(alone.body.info.store.status).toBe('up');

    run('worker/src/main.js', { LOG_LEVEL: 'info' });
    let last: ApiResponse | undefined;
    await eventually('/health/ready to answer 200 once the worker runs', async () => (last = await readyOf(client)).status === 200, {
      timeoutMs: 60_000,
      intervalMs: 100,
      seen: () => ({ ready: last?.body, output: output.slice(-2000) }),
    });
    expectReady(last!);
    expect(last!.body.details.worker).toMatchObject({ mode: 'external', reportedAt: expect.any(String), reportedAgoMs: expect.any(Number), processes: expect.any(Object) });
  });
});
