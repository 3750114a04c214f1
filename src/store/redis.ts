/**
 * Redis client (ioredis) from REDIS_URL with options suited to a hot path: commands fail fast instead of
 * queueing while disconnected (callers fail open), reconnects back off to 2 s, a command timeout bounds
 * every call. Keys are namespaced by the caller with an explicit prefix (pub/sub channels too).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { SwitchError } from '../errors.js';

export type { Redis } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface RedisClientOptions {
  /** Default: REDIS_URL, else redis://127.0.0.1:6379. */
  url?: string;
  /** Connection name shown by CLIENT LIST. */
  name?: string;
  /** Per-command timeout (ms). Default 1000. */
  commandTimeoutMs?: number;
  /** Connect timeout (ms). Default 2000. */
  connectTimeoutMs?: number;
  /** Queue commands while disconnected (default false: fail fast). Subscribers want true. */
  offlineQueue?: boolean;
}

/** The URL with any password removed, safe to log. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

export function redisOptions(o: RedisClientOptions = {}): RedisOptions {
  const opts: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: o.offlineQueue ?? false,
    maxRetriesPerRequest: 1,
    commandTimeout: o.commandTimeoutMs ?? 1000,
    connectTimeout: o.connectTimeoutMs ?? 2000,
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    reconnectOnError: () => false,
  };
  if (o.name !== undefined) opts.connectionName = o.name;
  return opts;
}

const urlOf = (o: RedisClientOptions): string => o.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;

/**
 * A client that is not connected yet (lazyConnect): call `connect()` or let the first command connect it.
 * Errors are emitted as 'error' events: a default listener keeps them from crashing the process.
 */
export function createRedis(o: RedisClientOptions = {}): Redis {
  const url = urlOf(o);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SwitchError('SW_ERR_REDIS_CONFIG', { reason: 'REDIS_URL is not a URL' });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new SwitchError('SW_ERR_REDIS_CONFIG', { reason: `unsupported scheme ${parsed.protocol}` });
  }
  const client = new Redis(url, redisOptions(o));
  client.on('error', () => undefined);
  return client;
}

/** Create and connect; rejects with SW_ERR_REDIS_UNAVAILABLE if the server cannot be reached within the connect timeout. */
export async function connectRedis(o: RedisClientOptions = {}): Promise<Redis> {
  const client = createRedis(o);
  // connect() rejects with "Connection is closed."; the cause (ECONNREFUSED, ENOTFOUND, …) comes as an 'error' event
  let cause: Error | undefined;
  const onError = (e: Error) => (cause = e);
  client.on('error', onError);
  try {
    await client.connect();
    client.off('error', onError);
    return client;
  } catch (e) {
    client.off('error', onError);
    client.disconnect();
    const err = (cause ?? e) as { code?: string; message?: string };
    const reason = (err.message ?? String(e)).replace(/\s+/g, ' ').slice(0, 200);
    throw new SwitchError('SW_ERR_REDIS_UNAVAILABLE', { target: redactRedisUrl(urlOf(o)), reason }, { cause: e });
  }
}

/** Quit politely, falling back to a hard disconnect; never throws. */
export async function closeRedis(client: Redis): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}
