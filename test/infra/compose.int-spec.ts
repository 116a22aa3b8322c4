import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeRequiring } from '../support/ci';

/**
 * docker-compose.yml as far as a machine without a Docker engine can check it (`.ci/run` installs Debian's
 * docker-compose, which parses and validates the file without an engine): it parses with every profile, the api and
 * the worker are given only variables they read, the files it mounts exist, and what nginx and Prometheus call the
 * replicas are services of the file.
 */

const REPO = path.resolve(__dirname, '../..');
const COMPOSE = '/usr/bin/docker-compose';
const hasCompose = { what: "docker-compose (Debian's package)", available: () => fs.existsSync(COMPOSE) };

/** The services built from this repository: every variable they are given must be one the code reads. */
const APP_SERVICES = ['api', 'worker'];

/** `docker-compose config` for these profiles: the file as Compose understands it, normalised. */
const config = (profiles: readonly string[] = []): string =>
  execFileSync(COMPOSE, [...profiles.flatMap((p) => ['--profile', p]), 'config'], {
    cwd: REPO,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/** The services of normalised config output, each with its environment keys (two-space YAML, as Compose prints it). */
const servicesOf = (normalised: string): Map<string, string[]> => {
  const services = new Map<string, string[]>();
  let section = '';
  let service: string | undefined;
  let inEnvironment = false;
  for (const line of normalised.split('\n')) {
    if (/^\S/.test(line)) section = line.replace(/:.*$/, '');
    if (section !== 'services') continue;
    const name = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line)?.[1];
    if (name !== undefined) {
      service = name;
      services.set(name, []);
      inEnvironment = false;
      continue;
    }
    if (/^ {4}\S/.test(line)) inEnvironment = /^ {4}environment:\s*$/.test(line);
    const key = inEnvironment ? /^ {6}([A-Z][A-Z0-9_]*):/.exec(line)?.[1] : undefined;
    if (service !== undefined && key !== undefined) services.get(service)!.push(key);
  }
  return services;
};

/** Every variable the api and the worker read: what their configuration (libs/runtime) asks of `env`. */
const variablesTheAppReads = (): Set<string> => {
  const dir = path.join(REPO, 'libs/runtime/src');
  const names = new Set<string>(['NODE_ENV', 'NODE_OPTIONS']);
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('spec.ts'))) {
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const m of source.matchAll(/\benv, '([A-Z][A-Z0-9_]*)'/g)) names.add(m[1]!);
    for (const m of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]!);
  }
  return names;
};

describeRequiring(hasCompose, 'docker-compose.yml', () => {
  it('parses with each profile: the default stack, PostgreSQL as the store, the EventStoreDB cluster', () => {
    expect(config()).toContain('services:');
    expect([...servicesOf(config(['postgres'])).keys()]).toContain('postgres');
    expect([...servicesOf(config(['cluster'])).keys()]).toEqual(expect.arrayContaining(['esdb-1', 'esdb-2', 'esdb-3']));
  });

  it('gives the api and the worker only variables they read (a misspelt one would be silently ignored)', () => {
    const known = variablesTheAppReads();
    // The reader found the configuration, or it is comparing with nothing.
    expect([...known]).toEqual(expect.arrayContaining(['EVENTSTORE_URL', 'REDIS_URL', 'WORKER_LEASE_MS', 'TRUST_PROXY', 'DATA_DIR']));
    const services = servicesOf(config(['postgres', 'cluster']));
    for (const service of APP_SERVICES) {
      const given = services.get(service);
      expect({ service, present: given !== undefined }).toEqual({ service, present: true });
      expect({ service, unknown: given!.filter((name) => !known.has(name)) }).toEqual({ service, unknown: [] });
    }
    // Several processes on one store: the shared store, the shared gate, the api's worker external, and nginx believed.
    expect(services.get('api')).toEqual(expect.arrayContaining(['EVENTSTORE_URL', 'REDIS_URL', 'WORKER', 'TRUST_PROXY']));
  });

  it('mounts files that exist, and names the replicas as nginx and Prometheus look them up', () => {
    const source = fs.readFileSync(path.join(REPO, 'docker-compose.yml'), 'utf8');
    for (const m of source.matchAll(/^\s+- (\.\/[^:]+):/gm)) expect({ mount: m[1], exists: fs.existsSync(path.join(REPO, m[1]!)) }).toEqual({ mount: m[1], exists: true });
    const services = [...servicesOf(config()).keys()];
    const nginx = fs.readFileSync(path.join(REPO, 'infra/nginx/nginx.conf'), 'utf8');
    for (const m of nginx.matchAll(/^\s*server ([a-z0-9-]+):\d+/gm)) expect(services).toContain(m[1]);
    const prometheus = fs.readFileSync(path.join(REPO, 'infra/prometheus/prometheus.yml'), 'utf8');
    for (const m of prometheus.matchAll(/names: \[([a-z0-9-]+)\]/g)) expect(services).toContain(m[1]);
  });
});
