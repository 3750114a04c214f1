/**
 * PostgreSQL connection set-up: a pool from a URL, and `resolveDatabaseUrl()` which picks DATABASE_URL or, with
 * none set, starts the embedded PostgreSQL server (src/store/embedded-pg.ts: real server binaries, data under
 * ./data/pg, or under /var/lib/iso8583-switch when running as root) so `npm start` works on a machine with no
 * database. `checkDatabase()` opens one session and names what is wrong when it cannot. A URL of several hosts
 * (`…@db1,db2/switch?target_session_attrs=read-write`) is followed through a failover (src/store/multi-host.ts).
 */
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { SwitchError } from '../errors.js';
import { startEmbeddedPostgres } from './embedded-pg.js';
import { clientFor, HostLocator, parseMultiHost } from './multi-host.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /** Called for errors of idle clients (e.g. the server terminated the connection); default: ignore. */
  onError?: (err: Error) => void;
  statementTimeoutMs?: number;
  /** Session settings for every connection (`set name = value` when it opens), e.g. plan_cache_mode. */
  session?: Record<string, string>;
  /** Close a connection idle this long (default 30 s; 0: keep it, for a dedicated connection that must be ready). */
  idleTimeoutMs?: number;
}

/** A pg pool from a connection URL. Idle-client errors never crash the process. */
export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const multi = parseMultiHost(url);
  const pool = new pg.Pool({
    connectionString: multi ? multi.urlFor(multi.hosts[0]!) : url,
    ...(multi ? { Client: clientFor(new HostLocator(multi)) } : {}),
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'iso8583-switch',
    connectionTimeoutMillis: 15_000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    ...(opts.statementTimeoutMs !== undefined ? { statement_timeout: opts.statementTimeoutMs } : {}),
  });
  pool.on('error', (err) => opts.onError?.(err));
  guardClientErrors(pool);
  const session = Object.entries(opts.session ?? {});
  if (session.length > 0) {
    // queued on the client before anything else it is asked, so every statement runs with these settings
    pool.on('connect', (client) => {
      for (const [k, v] of session) void client.query(`set ${k} = ${v}`).catch(() => undefined);
    });
  }
  return pool;
}

const guarded = new WeakSet<pg.Pool>();
const noop = () => undefined;

/**
 * A pg client whose connection dies while no query is active emits 'error'; pg-pool listens only while the
 * client is idle, so a second error on a client that already failed (or one arriving between two queries of a
 * checked-out client) would crash the process. Every client of the pool gets a permanent no-op listener;
 * queries still fail normally and the pool drops broken clients.
 */
export function guardClientErrors(pool: pg.Pool): void {
  if (guarded.has(pool)) return;
  guarded.add(pool);
  pool.on('connect', (client) => client.on('error', noop));
}

/** One client of `url` (of whichever host qualifies, for a URL of several). */
function oneClient(url: string, timeoutMs: number): pg.Client {
  const multi = parseMultiHost(url);
  if (!multi) return new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  const C = clientFor(new HostLocator(multi, { connectTimeoutMs: timeoutMs }));
  return new C({ connectionString: multi.urlFor(multi.hosts[0]!), connectionTimeoutMillis: timeoutMs });
}

/** URL with the password replaced, safe to log. */
export function redactUrl(url: string): string {
  if (url.includes(',')) return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database url>';
  }
}

export { freePort, startEmbeddedPostgres, type EmbeddedOptions, type EmbeddedPostgresHandle } from './embedded-pg.js';

export interface ResolvedDatabase {
  url: string;
  source: 'env' | 'embedded';
  /** Embedded: where the cluster's files are (for root, under /var/lib/iso8583-switch). */
  pgData?: string;
  /** Stops the embedded server when we started one; no-op otherwise. */
  stop(): Promise<void>;
}

/**
 * The database the app uses: DATABASE_URL when set, else an embedded server with data under `dataDir`
 * (default ./data/pg, or SWITCH_PG_DATA).
 */
export async function resolveDatabaseUrl(opts: { env?: NodeJS.ProcessEnv; dataDir?: string; onLog?: (line: string) => void } = {}): Promise<ResolvedDatabase> {
  const env = opts.env ?? process.env;
  const fromEnv = env.DATABASE_URL?.trim();
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => undefined };
  const dataDir = opts.dataDir ?? env.SWITCH_PG_DATA ?? path.join(process.cwd(), 'data', 'pg');
  const handle = await startEmbeddedPostgres({ dataDir, ...(opts.onLog ? { onLog: opts.onLog } : {}) });
  return { url: handle.url, source: 'embedded', pgData: handle.pgData, stop: () => handle.stop() };
}

/** SQLSTATEs of a server that was reached but refused the session (28xxx: authorization, 3D000: no such database). */
const LOGIN_REFUSED = new Set(['28000', '28P01', '3D000']);

/**
 * Opens one session on `url` and closes it. Rejects with `SW_ERR_DB_LOGIN_REFUSED` when the server answers but
 * refuses the user, password or database, and `SW_ERR_DB_UNAVAILABLE` when it cannot be reached.
 */
export async function checkDatabase(url: string, timeoutMs = 10_000): Promise<void> {
  const client = oneClient(url, timeoutMs);
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const reason = (err.message ?? String(e)).replace(/\s+/g, ' ').slice(0, 200);
    if (err.code && LOGIN_REFUSED.has(err.code)) throw new SwitchError('SW_ERR_DB_LOGIN_REFUSED', { target: redactUrl(url), reason }, { cause: e });
    throw new SwitchError(
      'SW_ERR_DB_UNAVAILABLE',
      { target: redactUrl(url), reason: err.code && !reason.includes(err.code) ? `${err.code} ${reason}` : reason },
      { cause: e },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quick connectivity probe: true when a session can be opened and `select 1` answers within timeoutMs. */
export async function probe(url: string, timeoutMs = 1500): Promise<boolean> {
  const client = oneClient(url, timeoutMs);
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const tmpDataDir = (): string => path.join(os.tmpdir(), `switch-pg-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
