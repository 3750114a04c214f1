/**
 * Every start-up failure of `npm start` ends with one line on stderr naming the cause and the fix, and exit
 * code 1 — never an unhandled exception or a stack trace (docs/switch.md, "When it does not start"). Each case
 * runs the real entry point (`node --import tsx bin/switch.ts`) as a child process on real services.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { chownSync, chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TEST_PAN_HASH_KEY } from '../helpers/switch.js';
import { testDb } from '../helpers/db.js';
import { embeddedLayout, removeEmbeddedCluster } from '../../src/store/embedded-pg.js';
import { bareChildEnv } from '../helpers/node-args.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last line on stderr. */
  last: string;
}

/** Runs main with `env` on top of a clean environment (no DATABASE_URL, REDIS_URL … from the caller's). */
function runMain(env: Record<string, string>, args: string[] = []): Promise<Run> {
  const base: NodeJS.ProcessEnv = bareChildEnv({ PSP_PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'warn' });
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bin/switch.ts', ...args], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => {
    proc.once('close', (code) => {
      const lines = stderr.split('\n').filter((l) => l.trim() !== '');
      resolve({ code, stdout, stderr, last: lines[lines.length - 1] ?? '' });
    });
  });
}

/** One clear line: the prefix, the cause, the fix in parentheses, the code; and no stack trace anywhere. */
function clearLine(t: Test, r: Run, code: string, cause: RegExp, fix: RegExp): void {
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.last, /^switch failed to start: /, `the last line says it failed: ${r.last}`);
  t.ok(r.last.endsWith(`[${code}]`), `names ${code}`);
  t.match(r.last, cause, 'names the cause');
  t.match(r.last, fix, 'names the fix');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace on stderr');
  t.notMatch(r.stderr, /Unhandled|uncaught|node:internal/i, 'no unhandled error');
  t.equal(r.stderr.trim().split('\n').length, 1, 'stderr holds that one line only');
}

/** A port something listens on until the test ends. */
async function busyPort(t: Test): Promise<number> {
  const srv = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}

/** A port nothing listens on (it was free a moment ago): connecting is refused. */
function closedPort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const dbEnv = async (t: Test) => ({ DATABASE_URL: (await testDb(t, { max: 1 })).url, PAN_HASH_KEY: TEST_PAN_HASH_KEY });

t.test('PSP port in use', async (t) => {
  const port = await busyPort(t);
  const r = await runMain({ ...(await dbEnv(t)), PSP_PORT: String(port) });
  clearLine(t, r, 'SW_ERR_START_PORT_IN_USE', new RegExp(`PSP port ${port} is in use`), /set PSP_PORT or psp\.port/);
});

t.test('admin port in use', async (t) => {
  const port = await busyPort(t);
  const r = await runMain({ ...(await dbEnv(t)), ADMIN_PORT: String(port) });
  clearLine(t, r, 'SW_ERR_START_PORT_IN_USE', new RegExp(`admin port ${port} is in use`), /set ADMIN_PORT or admin\.port/);
});

t.test('DATABASE_URL unreachable', async (t) => {
  const free = await closedPort();
  const r = await runMain({ DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${free}/test`, PAN_HASH_KEY: TEST_PAN_HASH_KEY });
  clearLine(
    t,
    r,
    'SW_ERR_START_DATABASE',
    new RegExp(`database postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${free}/test is unreachable: .*ECONNREFUSED`),
    /start PostgreSQL there, correct DATABASE_URL/,
  );
  t.notMatch(r.stderr + r.stdout, /secret/, 'the password is not printed');
});

t.test('DATABASE_URL refusing the login', async (t) => {
  const { url } = await testDb(t, { max: 1 });
  const u = new URL(url);
  u.username = `nobody_${process.pid}`;
  u.password = 'wrong';
  const r = await runMain({ DATABASE_URL: u.toString(), PAN_HASH_KEY: TEST_PAN_HASH_KEY });
  clearLine(t, r, 'SW_ERR_START_DATABASE_LOGIN', /refused the login: .*(nobody_|password)/, /correct the user, password or database name in DATABASE_URL/);
});

t.test('REDIS_URL set but unreachable', async (t) => {
  const port = await closedPort();
  const r = await runMain({ ...(await dbEnv(t)), REDIS_URL: `redis://127.0.0.1:${port}/0` });
  clearLine(
    t,
    r,
    'SW_ERR_START_REDIS',
    new RegExp(`Redis redis://127\\.0\\.0\\.1:${port}/0 is unreachable: .*ECONNREFUSED`),
    /unset both to keep the failure detector and velocity counts in memory/,
  );
});

t.test('a config file with an unknown key', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ psp: { prot: 9000 } }));
  const r = await runMain({ SWITCH_CONFIG: file });
  clearLine(
    t,
    r,
    'SW_ERR_START_CONFIG',
    new RegExp(`psp\\.prot: unknown key in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    /remove it or correct its spelling/,
  );
});

t.test('rule files that fail validation', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-start-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), dir, { recursive: true });
  writeFileSync(path.join(dir, 'routing.yaml'), 'rules:\n  - id: broken\n    then: { terminals: nope }\n');
  const r = await runMain({ ...(await dbEnv(t)), RULES_DIR: dir });
  clearLine(t, r, 'SW_ERR_START_RULES', new RegExp(`rule files in ${dir} are invalid: rules routing\\.yaml`), /npm run rules -- validate --dir/);
});

t.test('a fee override naming a terminal the rules do not have (the old T0000001 matched nothing)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-start-fees-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'fees.yaml'),
    'version: 1\nrounding: half-up\ndefault: { percent: "0", fixed: 0 }\nacquirers:\n  acq-a:\n    terminals:\n      T0000001: { percent: "1.2", fixed: 5 }\n',
  );
  const r = await runMain({ ...(await dbEnv(t)), RULES_DIR: dir });
  clearLine(
    t,
    r,
    'SW_ERR_START_RULES',
    /rules fees\.yaml: \(file\) is invalid at \/acquirers\/acq-a\/terminals\/T0000001: no terminal 'T0000001' in terminals\.yaml/,
    /npm run rules -- validate --dir/,
  );
  writeFileSync(
    path.join(dir, 'fees.yaml'),
    'version: 1\nrounding: half-up\ndefault: { percent: "0", fixed: 0 }\nacquirers:\n  acq-a:\n    terminals:\n      b-eur-1: { percent: "1.2", fixed: 5 }\n',
  );
  const r2 = await runMain({ ...(await dbEnv(t)), RULES_DIR: dir });
  clearLine(t, r2, 'SW_ERR_START_RULES', /terminal 'b-eur-1' belongs to acq-b/, /npm run rules -- validate --dir/);
});

t.test('embedded PostgreSQL unable to start', async (t) => {
  // A data directory holding a cluster of another PostgreSQL major version: the server refuses it.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-start-pg-'));
  chmodSync(dir, 0o755); // as root the server's user must reach a cluster used in place
  const dataDir = path.join(dir, 'data', 'pg');
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  chmodSync(dataDir, 0o700);
  writeFileSync(path.join(dataDir, 'PG_VERSION'), '11\n');
  writeFileSync(path.join(dataDir, 'postgresql.conf'), '');
  writeFileSync(`${dataDir}.secret`, 'password-of-that-cluster\n', { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dataDir, uid, gid);
    for (const f of ['PG_VERSION', 'postgresql.conf']) chownSync(path.join(dataDir, f), uid, gid);
  }
  t.teardown(async () => {
    await removeEmbeddedCluster(embeddedLayout(dataDir));
    rmSync(dir, { recursive: true, force: true });
  });
  // no DATABASE_URL (runMain starts from a clean environment): the embedded server
  const r = await runMain({ SWITCH_DATA_DIR: dataDir });
  clearLine(
    t,
    r,
    'SW_ERR_DB_EMBEDDED_FAILED',
    /embedded PostgreSQL could not start: .*incompatible with server/,
    /made by another PostgreSQL version: npm run reset removes it/,
  );
});

t.test('a flag main does not know: the error and the usage, exit 2; --help: the usage, exit 0', async (t) => {
  const bad = await runMain({}, ['--colour']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^start: Unknown option '--colour'\nusage: npm start/);
  const help = await runMain({}, ['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: npm start/);
});
