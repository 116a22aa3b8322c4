import { ConfigError, eventStoreKind, loadConfig, MIN_SECRET_BYTES } from './config';

const STRONG = 'k'.repeat(MIN_SECRET_BYTES);
const messageOf = (env: Record<string, string>): string | undefined => {
  try {
    loadConfig(env);
  } catch (error) {
    return error instanceof ConfigError ? error.message : 'not a ConfigError';
  }
  return undefined;
};

describe('loadConfig: secrets', () => {
  it('refuses to start with DEMO=0 when a secret is missing, naming it', () => {
    expect(messageOf({ PAYMENT_WEBHOOK_SECRET: STRONG })).toMatch(/^JWT_SECRET must be set/);
    expect(messageOf({ JWT_SECRET: STRONG })).toMatch(/^PAYMENT_WEBHOOK_SECRET must be set/);
    expect(messageOf({ DEMO: '0', JWT_SECRET: '', PAYMENT_WEBHOOK_SECRET: STRONG })).toMatch(/^JWT_SECRET must be set/);
  });

  it('refuses a secret shorter than 32 bytes with DEMO=0, counting bytes, not characters', () => {
    expect(messageOf({ JWT_SECRET: 'a', PAYMENT_WEBHOOK_SECRET: STRONG })).toBe('JWT_SECRET must be at least 32 bytes when DEMO=0, got 1');
    expect(messageOf({ JWT_SECRET: ' ', PAYMENT_WEBHOOK_SECRET: STRONG })).toBe('JWT_SECRET must be at least 32 bytes when DEMO=0, got 1');
    expect(messageOf({ JWT_SECRET: STRONG, PAYMENT_WEBHOOK_SECRET: 'k'.repeat(31) })).toBe('PAYMENT_WEBHOOK_SECRET must be at least 32 bytes when DEMO=0, got 31');
    // 16 characters of two bytes each.
    expect(messageOf({ JWT_SECRET: 'é'.repeat(16), PAYMENT_WEBHOOK_SECRET: STRONG })).toBeUndefined();
    // The message never carries the secret itself.
    expect(messageOf({ JWT_SECRET: 'short-secret', PAYMENT_WEBHOOK_SECRET: STRONG })).not.toContain('short-secret');
  });

  it('takes 32-byte secrets as given', () => {
    const config = loadConfig({ JWT_SECRET: STRONG, PAYMENT_WEBHOOK_SECRET: 'w'.repeat(40) });
    expect(config).toMatchObject({ demo: false, jwtSecret: STRONG, jwtSecretGenerated: false, paymentWebhookSecret: 'w'.repeat(40) });
  });

  it('generates what is missing in demo mode, and takes a short secret there', () => {
    const config = loadConfig({ DEMO: '1' });
    expect(config.jwtSecretGenerated).toBe(true);
    expect(Buffer.byteLength(config.jwtSecret)).toBeGreaterThanOrEqual(MIN_SECRET_BYTES);
    expect(Buffer.byteLength(config.paymentWebhookSecret)).toBeGreaterThanOrEqual(MIN_SECRET_BYTES);
    expect(loadConfig({ DEMO: '1', JWT_SECRET: 'a' }).jwtSecret).toBe('a');
  });
});

describe('loadConfig: JWT_MAX_TTL_S', () => {
  const secrets = { JWT_SECRET: STRONG, PAYMENT_WEBHOOK_SECRET: STRONG };

  it('defaults to one day and takes a value in range', () => {
    expect(loadConfig(secrets).jwtMaxTtlSeconds).toBe(86_400);
    expect(loadConfig({ ...secrets, JWT_MAX_TTL_S: '3600' }).jwtMaxTtlSeconds).toBe(3600);
    expect(messageOf({ ...secrets, JWT_MAX_TTL_S: '0' })).toMatch(/^JWT_MAX_TTL_S must be an integer/);
  });

  it('refuses demo tokens that would outlive the cap', () => {
    expect(messageOf({ ...secrets, JWT_MAX_TTL_S: '600' })).toMatch(/^DEV_TOKEN_TTL_S \(3600\) must not exceed JWT_MAX_TTL_S \(600\)/);
  });
});

describe('loadConfig: JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE', () => {
  const secrets = { JWT_SECRET: STRONG, PAYMENT_WEBHOOK_SECRET: STRONG };
  const provider = { ...secrets, JWT_JWKS_URL: 'https://idp.example/.well-known/jwks.json', JWT_ISSUER: 'https://idp.example/', JWT_AUDIENCE: 'flash-sale' };

  it('has no identity provider unless JWT_JWKS_URL is set', () => {
    expect(loadConfig(secrets).jwks).toBeUndefined();
    expect(loadConfig({ ...secrets, JWT_JWKS_URL: '' }).jwks).toBeUndefined();
  });

  it('takes the key set, issuer and audiences (comma-separated), with the refresh defaults', () => {
    expect(loadConfig({ ...provider, JWT_AUDIENCE: 'flash-sale, admin-console' }).jwks).toEqual({
      url: 'https://idp.example/.well-known/jwks.json',
      issuer: 'https://idp.example/',
      audience: ['flash-sale', 'admin-console'],
      refreshCooldownMs: 30_000,
      maxAgeMs: 600_000,
    });
    expect(loadConfig({ ...provider, JWT_JWKS_COOLDOWN_MS: '5000', JWT_JWKS_MAX_AGE_MS: '60000' }).jwks).toMatchObject({ refreshCooldownMs: 5000, maxAgeMs: 60_000 });
  });

  it('fetches keys over HTTPS only, plain HTTP from this machine alone', () => {
    expect(loadConfig({ ...provider, JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks' }).jwks?.url).toBe('http://127.0.0.1:8080/jwks');
    expect(loadConfig({ ...provider, JWT_JWKS_URL: 'http://localhost/jwks' }).jwks?.url).toBe('http://localhost/jwks');
    expect(messageOf({ ...provider, JWT_JWKS_URL: 'http://idp.example/jwks' })).toBe('JWT_JWKS_URL must be an https:// URL (http:// only on localhost), got a http:// URL');
    expect(messageOf({ ...provider, JWT_JWKS_URL: 'file:///etc/jwks.json' })).toMatch(/^JWT_JWKS_URL must be an https:\/\/ URL/);
    expect(messageOf({ ...provider, JWT_JWKS_URL: 'idp.example/jwks' })).toMatch(/^JWT_JWKS_URL must be an https:\/\/ URL .* not a URL$/);
  });

  it('refuses a key set without an issuer and an audience to check, and those two without a key set', () => {
    expect(messageOf({ ...provider, JWT_ISSUER: '' })).toMatch(/^JWT_ISSUER must be set with JWT_JWKS_URL/);
    expect(messageOf({ ...provider, JWT_AUDIENCE: ' , ' })).toMatch(/^JWT_AUDIENCE must be set with JWT_JWKS_URL/);
    expect(messageOf({ ...secrets, JWT_ISSUER: 'https://idp.example/' })).toMatch(/^JWT_ISSUER and JWT_AUDIENCE apply to the tokens of JWT_JWKS_URL/);
    expect(messageOf({ ...provider, JWT_JWKS_COOLDOWN_MS: '10' })).toMatch(/^JWT_JWKS_COOLDOWN_MS must be an integer in 1000\.\./);
  });

  it('leaves the worker alone: it verifies no token', () => {
    expect(loadConfig({ JWT_JWKS_URL: 'http://idp.example/jwks' }, 'worker').jwks).toBeUndefined();
  });
});

describe('loadConfig: EVENTSTORE_URL', () => {
  it('selects SQLite when unset or empty, PostgreSQL for postgres:// and postgresql:// URLs', () => {
    expect(eventStoreKind(undefined)).toBe('sqlite');
    expect(loadConfig({ DEMO: '1', EVENTSTORE_URL: '' }).eventStoreUrl).toBeUndefined();
    expect(eventStoreKind('postgres://u:p@db:5432/flash')).toBe('postgres');
    expect(eventStoreKind('PostgreSQL://db/flash')).toBe('postgres');
    expect(loadConfig({ DEMO: '1', EVENTSTORE_URL: 'postgresql://db/flash' }).eventStoreUrl).toBe('postgresql://db/flash');
  });

  it('selects EventStoreDB for esdb://, esdb+discover://, kurrentdb:// and kurrent:// URLs', () => {
    for (const url of ['esdb://localhost:2113', 'esdb+discover://a,b', 'kurrentdb://localhost:2113?tls=false', 'KURRENT://db:2113']) {
      expect(eventStoreKind(url)).toBe('esdb');
      expect(loadConfig({ DEMO: '1', EVENTSTORE_URL: url }).eventStoreUrl).toBe(url);
    }
  });

  it('refuses anything else, naming the variable, never the password', () => {
    expect(messageOf({ DEMO: '1', EVENTSTORE_URL: 'nonsense' })).toMatch(/^EVENTSTORE_URL must be a postgres:\/\/, postgresql:\/\/, esdb:\/\/ or kurrentdb:\/\/ URL/);
    expect(messageOf({ DEMO: '1', EVENTSTORE_URL: 'mysql://root:hunter2@db/x' })).toMatch(/got a mysql:\/\/ URL$/);
    expect(messageOf({ DEMO: '1', EVENTSTORE_URL: 'root:hunter2@db' })).not.toContain('hunter2');
  });
});

describe('loadConfig: TRUST_PROXY', () => {
  const base = { DEMO: '1' };

  it('is off unless set: the client is the socket peer', () => {
    expect(loadConfig(base).trustProxy).toEqual([]);
    expect(loadConfig({ ...base, TRUST_PROXY: 'off' }).trustProxy).toEqual([]);
    expect(loadConfig({ ...base, TRUST_PROXY: ' ' }).trustProxy).toEqual([]);
  });

  it('takes addresses, CIDR ranges and the proxy-addr range names', () => {
    expect(loadConfig({ ...base, TRUST_PROXY: '10.0.0.5, 172.16.0.0/12,fd00::/8 ,Loopback' }).trustProxy).toEqual([
      '10.0.0.5',
      '172.16.0.0/12',
      'fd00::/8',
      'loopback',
    ]);
  });

  it('refuses "trust everyone" and malformed entries, naming the variable and the entry', () => {
    for (const bad of ['true', '*', '10.0.0.0/33', '::1/129', '10.0.0.1/8/1', 'proxy.local', '10.0.0.1,']) {
      expect(messageOf({ ...base, TRUST_PROXY: bad })).toMatch(/^TRUST_PROXY must be off or a comma-separated list/);
    }
  });
});

describe('loadConfig: WORKER_METRICS_PORT', () => {
  it('is off unless set, takes a port, and refuses anything else naming the variable', () => {
    expect(loadConfig({}, 'worker').workerMetricsPort).toBeUndefined();
    expect(loadConfig({ WORKER_METRICS_PORT: '' }, 'worker').workerMetricsPort).toBeUndefined();
    expect(loadConfig({ WORKER_METRICS_PORT: '9464' }, 'worker').workerMetricsPort).toBe(9464);
    expect(() => loadConfig({ WORKER_METRICS_PORT: 'metrics' }, 'worker')).toThrow('WORKER_METRICS_PORT must be an integer in 0..65535, got "metrics"');
  });
});
