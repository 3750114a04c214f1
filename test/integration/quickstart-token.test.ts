/**
 * The quick start's one-run admin token (docs/admin.md, "The quick-start token"; docs/security.md, "Admin"): the
 * real entry point (bin/switch.ts) with no admin tokens configured writes an operator token to data/admin.token,
 * mode 0600, and prints it in full only to a terminal.
 *  - stdout piped: the output holds a 4-character prefix, "…" and the file's path, never the token; the file
 *    holds it, mode 0600, though a looser file of an earlier run was there; the token works against the admin
 *    API, and the earlier file's content does not;
 *  - stdout a terminal (util-linux `script` gives the child a pseudo-terminal): the token printed in full is the
 *    one in the file; the file is rewritten for this run (a new token), and a symbolic link left in its place is
 *    replaced, not written through.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { testDb } from '../helpers/db.js';
import { ROOT, startChildSwitch, testOverrides } from '../helpers/switch.js';
import { eventually } from '../helpers/wait.js';
import { childEnv } from '../helpers/node-args.js';
import { writeRunTokenFile } from '../../src/admin/run-token.js';
import { isSwitchError } from '../../src/errors.js';

const SCRIPT = process.env.SCRIPT_PATH ?? '/usr/bin/script';
const TOKEN = /^[A-Za-z0-9_-]{32}$/;

async function whoami(port: number, token: string | null): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${port}/api/whoami`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json() };
}

const modeOf = (f: string): number => fs.lstatSync(f).mode & 0o777;

t.test('stdout piped: the token is in data/admin.token (0600), not in the output, and it works', async (t) => {
  const db = await testDb(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-token-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'data', 'admin.token');
  // an earlier run's file, world-readable
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'stale-token-of-an-earlier-run-000\n', { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  t.equal(modeOf(file), 0o644, 'the earlier file is world-readable');

  const sw = await startChildSwitch(
    t,
    db.url,
    { admin: { enabled: true, port: 0, tokens: [] } },
    { SWITCH_DATA_DIR: path.join(dir, 'data', 'pg'), ADMIN_TOKENS: '', LOG_LEVEL: 'info' },
  );
  const out = sw.stdout();
  const adminPort = Number(/admin and metrics\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);
  t.ok(adminPort > 0, `admin port ${adminPort}`);

  const token = fs.readFileSync(file, 'utf8').trim();
  t.match(token, TOKEN, 'the file holds a token');
  t.not(token, 'stale-token-of-an-earlier-run-000', 'a new one');
  t.equal(modeOf(file), 0o600, 'the file is mode 0600 (the looser earlier file was replaced)');
  t.ok(fs.lstatSync(file).isFile());

  const line = out.split('\n').find((l) => l.includes('admin token')) ?? '';
  t.ok(line, `the token line: ${line}`);
  t.ok(line.includes(`${token.slice(0, 4)}…`), 'it shows the first 4 characters and "…"');
  t.ok(line.includes(file), 'and the file path');
  t.notOk(out.includes(token), 'stdout does not hold the token');
  t.notOk(out.includes(token.slice(0, 8)), 'nor more than its prefix');
  t.notOk(sw.stderr().includes(token.slice(0, 8)), 'nor does stderr');

  t.same(await whoami(adminPort, token), { status: 200, body: { name: 'quickstart', role: 'operator' } }, 'the token in the file works');
  t.equal((await whoami(adminPort, null)).status, 401, 'without it: 401');
  t.equal((await whoami(adminPort, 'stale-token-of-an-earlier-run-000')).status, 401, "the earlier file's token does not work");
  t.equal(await sw.stop(), 0, 'stops cleanly');
});

t.test('stdout a terminal: printed in full; each run rewrites the file; a symbolic link is replaced', async (t) => {
  t.ok(fs.existsSync(SCRIPT), `script at ${SCRIPT} (util-linux) gives the child a terminal`);
  const db = await testDb(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-token-tty-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'data', 'admin.token');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // a link in the token file's place, to a world-readable file: writing through it would leak the token there
  const decoy = path.join(dir, 'decoy.txt');
  fs.writeFileSync(decoy, 'decoy\n', { mode: 0o644 });
  fs.symlinkSync(decoy, file);

  const cfgFile = path.join(dir, 'config.json');
  const o = testOverrides(db.url, { admin: { enabled: true, port: 0, tokens: [] } });
  delete o.database;
  delete (o.psp as Record<string, unknown>).port;
  fs.writeFileSync(cfgFile, JSON.stringify(o));
  // without coverage in the child (test/helpers/node-args.ts), as every node child of a test
  const env = childEnv({
    DATABASE_URL: db.url,
    PSP_PORT: '0',
    ADMIN_PORT: '0',
    ADMIN_TOKENS: '',
    SWITCH_CONFIG: cfgFile,
    SWITCH_DATA_DIR: path.join(dir, 'data', 'pg'),
    LOG_LEVEL: 'warn',
  });
  // script runs the command on a new pseudo-terminal and copies its output to our pipe; -e: its exit status
  const cmd = `exec ${process.execPath} --import tsx bin/switch.ts`;
  const p = spawn(SCRIPT, ['-q', '-e', '-f', '-c', cmd, '/dev/null'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = once(p, 'exit');
  let alive = true;
  void exited.then(() => (alive = false));
  t.teardown(async () => {
    if (alive && p.pid) {
      process.kill(-p.pid, 'SIGKILL');
      await exited;
    }
  });
  await eventually(() => /Ctrl-C stops it/.test(out) || !alive, 'the switch up on a terminal', 60_000, 50);
  t.ok(alive, alive ? 'the switch is up on a terminal' : `the switch exited: ${out.slice(-1500)}`);
  const adminPort = Number(/admin and metrics\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);

  t.ok(fs.lstatSync(file).isFile() && !fs.lstatSync(file).isSymbolicLink(), 'the link was replaced by a file');
  t.equal(modeOf(file), 0o600, 'mode 0600');
  t.equal(fs.readFileSync(decoy, 'utf8'), 'decoy\n', 'the file the link pointed to is untouched');
  const token = fs.readFileSync(file, 'utf8').trim();
  t.match(token, TOKEN);
  const shown = /admin token\s+(\S+)\s/.exec(out)?.[1];
  t.equal(shown, token, 'on a terminal the token is printed in full, the same as in the file');
  t.same(await whoami(adminPort, token), { status: 200, body: { name: 'quickstart', role: 'operator' } });

  // Ctrl-C typed on the terminal (the line discipline sends SIGINT to the switch), then the next run gets a new
  // token in the same file
  p.stdin.write('\x03');
  await exited;
  t.equal(p.exitCode, 0, `Ctrl-C stops it with exit 0 (script -e passes the switch's status on)`);
  const next = await startChildSwitch(
    t,
    db.url,
    { admin: { enabled: true, port: 0, tokens: [] } },
    { SWITCH_DATA_DIR: path.join(dir, 'data', 'pg'), ADMIN_TOKENS: '' },
  );
  const again = fs.readFileSync(file, 'utf8').trim();
  t.match(again, TOKEN);
  t.not(again, token, 'the next run rewrote the file with its own token');
  t.equal(modeOf(file), 0o600);
  const port2 = Number(/admin and metrics\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(next.stdout())?.[1]);
  t.equal((await whoami(port2, token)).status, 401, "the last run's token does not work on this one");
  t.equal((await whoami(port2, again)).status, 200, 'this run token does');
  t.equal(await next.stop(), 0);
});

t.test('a token file that cannot be written is SW_ERR_ADMIN_TOKEN_FILE naming it; nothing half-written is left', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-token-bad-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'admin.token');
  fs.mkdirSync(file); // a folder where the file should be: the rename over it fails
  const e = await writeRunTokenFile(file, 'x'.repeat(32)).catch((err: unknown) => err);
  t.ok(isSwitchError(e, 'SW_ERR_ADMIN_TOKEN_FILE'), 'SW_ERR_ADMIN_TOKEN_FILE');
  t.equal(isSwitchError(e) ? e.params.path : null, file, 'names the file');
  t.notMatch(String((e as Error).message), /x{32}/, 'not the token');
  t.same(fs.readdirSync(dir), ['admin.token'], 'the temporary file is removed');
  t.ok(fs.statSync(file).isDirectory(), 'and the folder left as it was');

  // a file that is fine: written 0600 with the token and a newline, through a umask that would open it up
  const good = path.join(dir, 'sub', 'admin.token');
  const old = process.umask(0);
  try {
    await writeRunTokenFile(good, 'y'.repeat(32));
  } finally {
    process.umask(old);
  }
  t.equal(fs.readFileSync(good, 'utf8'), `${'y'.repeat(32)}\n`);
  t.equal(modeOf(good), 0o600);
});
