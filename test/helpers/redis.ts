/**
 * Redis for integration tests, resolved once per test process:
 *   1. REDIS_URL (or TEST_REDIS_URL)
 *   2. the local server on 127.0.0.1:6379
 *   3. testcontainers (redis:7-alpine) when a Docker engine is reachable
 * Each test gets a unique key prefix; keys under it are deleted at teardown. Nothing skips: when no server
 * can be had the test fails with the reasons.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedis, closeRedis } from '../../src/store/redis.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface TestRedis {
  url: string;
  /** Unique per test, e.g. "t:lq3x:9f2a1b3c:". */
  prefix: string;
  /** A new connected client, closed at teardown. */
  client(opts?: { offlineQueue?: boolean }): Promise<Redis>;
}

let server: Promise<string> | undefined;

async function ping(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function resolveServer(): Promise<string> {
  const notes: string[] = [];
  const env = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;
  if (env) {
    if (await ping(env)) return env;
    notes.push('REDIS_URL does not answer');
  }
  const local = 'redis://127.0.0.1:6379';
  if (await ping(local)) return local;
  notes.push('no server on 127.0.0.1:6379');
  const dockerHost = process.env.DOCKER_HOST ?? (fs.existsSync('/var/run/docker.sock') ? 'unix:///var/run/docker.sock' : '');
  if (dockerHost) {
    try {
      const { GenericContainer, Wait } = await import('testcontainers');
      const c = await new GenericContainer('redis:7-alpine')
        .withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
        .start();
      process.once('exit', () => void c.stop().catch(() => undefined));
      return `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
    } catch (e) {
      notes.push(`testcontainers failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  } else notes.push('no Docker engine');
  throw new Error(`no Redis for tests: ${notes.join('; ')}`);
}

export function testRedisUrl(): Promise<string> {
  server ??= resolveServer();
  return server;
}

export async function testRedis(t: Teardownable): Promise<TestRedis> {
  const url = await testRedisUrl();
  const prefix = `t:${Date.now().toString(36)}:${crypto.randomBytes(4).toString('hex')}:`;
  const clients: Redis[] = [];
  t.teardown(async () => {
    const c = createRedis({ url });
    await c.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await c.del(...keys);
      } while (cursor !== '0');
    } finally {
      await closeRedis(c);
      await Promise.all(clients.map((x) => closeRedis(x)));
    }
  });
  return {
    url,
    prefix,
    async client(opts = {}) {
      const c = createRedis({ url, offlineQueue: opts.offlineQueue ?? false });
      clients.push(c);
      await c.connect();
      return c;
    },
  };
}
