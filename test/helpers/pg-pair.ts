/**
 * A PostgreSQL primary and its synchronous streaming standby on this machine, made with Debian's own tools
 * (postgresql-common: pg_createcluster, pg_ctlcluster, pg_basebackup; docs/deploy.md, "Database failover"):
 * the primary names the standby in `synchronous_standby_names`, so a commit is acknowledged only once the
 * standby has it. Both are dropped at teardown. Needs root (the clusters run as the `postgres` user); anything
 * missing fails the test with what to install, never skips it.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import crypto from 'node:crypto';
import pg from 'pg';
import { freePort } from '../../src/store/embedded-pg.js';
import { eventually } from './wait.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface PgNode {
  name: string;
  port: number;
  /** postgres://postgres@127.0.0.1:port/<db> */
  url(db?: string): string;
}

export interface PgPair {
  version: string;
  primary: PgNode;
  standby: PgNode;
  /** Both hosts, `target_session_attrs=read-write`: what the switch is given. */
  multiHostUrl(db: string): string;
  /** The primary stops at once, as in a crash (`pg_ctlcluster … stop -m immediate`: no checkpoint, no goodbye). */
  crashPrimary(): void;
  /** The standby becomes the primary (`pg_ctlcluster … promote`); resolves once it accepts writes. */
  promoteStandby(): Promise<void>;
}

const TRUST_HBA = ['local all all trust', 'local replication all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust', ''].join(
  '\n',
);

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stderr ?? ''}${r.stdout ?? ''}`.trim());
  return r.stdout;
}

async function one<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.query<T>(sql)).rows[0];
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function pgPair(t: Teardownable): Promise<PgPair> {
  if (process.getuid?.() !== 0) throw new Error('pgPair needs root: the clusters are made with pg_createcluster and run as the postgres user');
  if (spawnSync('pg_createcluster', ['--help'], { stdio: 'ignore' }).error) {
    throw new Error('pg_createcluster not found: apt-get install postgresql-common postgresql');
  }
  const version = readdirSync('/etc/postgresql').sort().at(-1)!;
  const id = crypto.randomBytes(3).toString('hex');
  const node = (name: string, port: number): PgNode => ({ name, port, url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}` });
  const primary = node(`fo${id}p`, await freePort());
  const standby = node(`fo${id}s`, await freePort());
  const made: string[] = [];
  t.teardown(() => {
    for (const n of made) spawnSync('pg_dropcluster', ['--stop', version, n], { stdio: 'ignore' });
  });

  // settings appended to each cluster's postgresql.conf (pg_createcluster -o quotes some values and not others)
  const settings = (name: string, lines: string[]) => appendFileSync(`/etc/postgresql/${version}/${name}/postgresql.conf`, `\n${lines.join('\n')}\n`);
  run('pg_createcluster', [version, primary.name, '-p', String(primary.port)]);
  made.push(primary.name);
  settings(primary.name, [`synchronous_standby_names = '${standby.name}'`, "wal_level = 'replica'", 'max_wal_senders = 5', "listen_addresses = '127.0.0.1'"]);
  writeFileSync(`/etc/postgresql/${version}/${primary.name}/pg_hba.conf`, TRUST_HBA);
  run('pg_ctlcluster', [version, primary.name, 'start']);

  run('pg_createcluster', [version, standby.name, '-p', String(standby.port)]);
  made.push(standby.name);
  settings(standby.name, ["listen_addresses = '127.0.0.1'", 'hot_standby = on']);
  writeFileSync(`/etc/postgresql/${version}/${standby.name}/pg_hba.conf`, TRUST_HBA);
  const dataDir = `/var/lib/postgresql/${version}/${standby.name}`;
  // emptied, not removed: the folder above it is root's, the data folder stays the postgres user's (0700)
  for (const f of readdirSync(dataDir)) rmSync(`${dataDir}/${f}`, { recursive: true, force: true });
  run('runuser', [
    '-u',
    'postgres',
    '--',
    'pg_basebackup',
    '-d',
    `host=127.0.0.1 port=${primary.port} user=postgres application_name=${standby.name}`,
    '-D',
    dataDir,
    '-X',
    'stream',
    '-R',
  ]);
  run('pg_ctlcluster', [version, standby.name, 'start']);
  await eventually(async () => {
    const r = await one<{ s: string }>(primary.url(), `select sync_state as s from pg_stat_replication where application_name = '${standby.name}'`);
    return r?.s === 'sync';
  }, 'the standby streams synchronously');

  return {
    version,
    primary,
    standby,
    multiHostUrl: (db) => `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/${db}?target_session_attrs=read-write`,
    crashPrimary: () => void run('pg_ctlcluster', [version, primary.name, 'stop', '-m', 'immediate']),
    promoteStandby: async () => {
      run('pg_ctlcluster', [version, standby.name, 'promote']);
      await eventually(async () => (await one<{ r: boolean }>(standby.url(), 'select pg_is_in_recovery() as r'))?.r === false, 'the standby accepts writes');
    },
  };
}
