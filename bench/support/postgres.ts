import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

const PG_URLS = ['postgres://postgres@127.0.0.1:5432/test', 'postgres://postgres@127.0.0.1:5432/postgres'];

export interface PostgresProbe {
  readonly url: string;
  readonly version: string;
  readonly fsync: string;
  readonly synchronousCommit: string;
}

/** The first PostgreSQL database that answers, with the settings that decide whether its commits are durable. */
export const probePostgres = async (): Promise<PostgresProbe | string> => {
  const reasons: string[] = [];
  for (const url of PG_URLS) {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      const setting = async (name: string): Promise<string> => String((await client.query(`SHOW ${name}`)).rows[0]?.[name]);
      return { url, version: await setting('server_version'), fsync: await setting('fsync'), synchronousCommit: await setting('synchronous_commit') };
    } catch (error) {
      reasons.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return reasons.join('; ');
};

/** One statement on its own connection (CREATE/DROP DATABASE cannot run inside a transaction or a pool's session). */
export const runStatement = async <T extends object>(url: string, text: string, values: readonly unknown[] = []): Promise<T[]> => {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return (await client.query<T>(text, [...values])).rows;
  } finally {
    await client.end();
  }
};

const databaseUrl = (serverUrl: string, database: string): string => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
};

/** A database of a row's own on the probed server: created empty, dropped (with any sessions left on it) by `drop`. */
export interface BenchDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export const createDatabase = async (pg: PostgresProbe, prefix: string): Promise<BenchDatabase> => {
  const database = `${prefix}_${randomBytes(6).toString('hex')}`;
  await runStatement(pg.url, `CREATE DATABASE ${database}`);
  return {
    url: databaseUrl(pg.url, database),
    drop: async () => {
      await runStatement(pg.url, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
};
