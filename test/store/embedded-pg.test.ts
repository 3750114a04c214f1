/**
 * The embedded PostgreSQL (src/store/embedded-pg.ts): where its cluster lives, for root and for an ordinary
 * user; that it starts with its data directory under a 0700 folder (as root the server runs as `postgres`,
 * which cannot enter such a folder); and that a binary that cannot be run is a typed error, not an unhandled
 * 'error' event.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { embeddedLayout, removeEmbeddedCluster, startEmbeddedPostgres, SYSTEM_CLUSTER_DIR } from '../../src/store/embedded-pg.js';
import { isSwitchError } from '../../src/errors.js';

const isRoot = process.getuid?.() === 0;
const mode = (p: string) => fs.statSync(p).mode & 0o777;

t.test('layout: an ordinary user keeps the cluster in the data directory', async (t) => {
  const l = embeddedLayout('data/pg', { root: false });
  t.equal(l.dataDir, path.resolve('data/pg'));
  t.equal(l.pgData, l.dataDir);
  t.equal(l.home, null);
  t.equal(l.link, false);
  t.equal(l.secretFile, `${l.dataDir}.secret`);
});

t.test('layout as root: a folder per data directory under the system folder, linked from the data directory', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emb-layout-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sys = path.join(dir, 'var-lib');
  const a = embeddedLayout(path.join(dir, 'a', 'data', 'pg'), { root: true, systemDir: sys });
  const b = embeddedLayout(path.join(dir, 'b', 'data', 'pg'), { root: true, systemDir: sys });
  t.equal(path.dirname(a.home!), sys);
  t.match(path.basename(a.home!), /^[0-9a-f]{12}$/);
  t.equal(a.pgData, path.join(a.home!, 'pg'));
  t.equal(a.link, true);
  t.not(a.home, b.home, 'one folder per data directory');
  t.equal(embeddedLayout(path.join(dir, 'a', 'data', 'pg'), { root: true, systemDir: sys }).home, a.home, 'the same folder on every start');

  // a cluster made in place (by an earlier version) stays where it is
  const inPlace = path.join(dir, 'c', 'data', 'pg');
  fs.mkdirSync(inPlace, { recursive: true });
  fs.writeFileSync(path.join(inPlace, 'PG_VERSION'), '18\n');
  const c = embeddedLayout(inPlace, { root: true, systemDir: sys });
  t.equal(c.pgData, inPlace);
  t.equal(c.link, false);
  t.ok(c.home, 'the binaries still go to the system folder');

  // a link is followed: a checkout that moved keeps its cluster
  const moved = path.join(dir, 'moved', 'data');
  fs.mkdirSync(moved, { recursive: true });
  fs.symlinkSync(a.pgData, path.join(moved, 'pg'));
  const m = embeddedLayout(path.join(moved, 'pg'), { root: true, systemDir: sys });
  t.equal(m.pgData, a.pgData);
  t.equal(m.home, a.home);
});

t.test('starts with its data directory under a 0700 folder, keeps its data across a restart, and is removed whole', async (t) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'emb-0700-'));
  t.equal(mode(parent), 0o700, 'mkdtemp makes a 0700 folder');
  const dataDir = path.join(parent, 'checkout', 'data', 'pg');
  const layout = embeddedLayout(dataDir);
  t.teardown(async () => {
    await removeEmbeddedCluster(layout);
    fs.rmSync(parent, { recursive: true, force: true });
  });
  const h = await startEmbeddedPostgres({ dataDir });
  t.equal(h.pgData, layout.pgData);
  if (isRoot) {
    t.equal(path.dirname(layout.home!), SYSTEM_CLUSTER_DIR);
    t.ok(fs.lstatSync(dataDir).isSymbolicLink(), 'the data directory links to the cluster');
    t.equal(fs.readlinkSync(dataDir), layout.pgData);
    const pgUid = fs.statSync(layout.pgData).uid;
    t.not(pgUid, 0, 'the data belongs to the server user, not root');
    t.equal(fs.statSync(layout.home!).uid, pgUid, 'so does its folder');
    t.equal(mode(layout.home!), 0o700);
    t.equal(mode(layout.pgData), 0o700);
    const bin = path.join(layout.home!, 'postgres', 'bin', 'postgres');
    t.equal(fs.statSync(bin).uid, 0, 'the binaries copy belongs to root: the server user cannot change them');
    t.equal(mode(bin), 0o755);
  } else {
    t.equal(layout.pgData, dataDir, 'an ordinary user keeps everything in the data directory');
  }
  t.equal(mode(layout.secretFile), 0o600, 'the password file is 0600');
  const c = new pg.Client(h.url);
  await c.connect();
  await c.query('create table keep (v int); insert into keep values (7)');
  await c.end();
  await h.stop();

  const h2 = await startEmbeddedPostgres({ dataDir });
  const c2 = new pg.Client(h2.url);
  await c2.connect();
  t.same((await c2.query('select v from keep')).rows, [{ v: 7 }], 'same cluster after a restart');
  await c2.end();
  await h2.stop();

  const removed = await removeEmbeddedCluster(layout);
  t.ok(removed.includes(layout.pgData));
  t.notOk(fs.existsSync(layout.pgData), 'data removed');
  if (layout.home) t.notOk(fs.existsSync(layout.home), 'its folder under the system folder removed');
  t.notOk(fs.existsSync(dataDir), 'the link removed');
  t.notOk(fs.existsSync(layout.secretFile), 'the password file removed');
});

t.test('a server binary that cannot be run is a typed error naming the cause, not an unhandled error event', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emb-bad-'));
  const native = path.join(dir, 'native');
  fs.mkdirSync(path.join(native, 'bin'), { recursive: true });
  for (const b of ['initdb', 'postgres']) fs.writeFileSync(path.join(native, 'bin', b), 'not a program\n', { mode: 0o644 });
  const dataDir = path.join(dir, 'data', 'pg');
  t.teardown(async () => {
    await removeEmbeddedCluster(embeddedLayout(dataDir));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let uncaught = 0;
  const count = () => uncaught++;
  process.on('uncaughtException', count);
  t.teardown(() => void process.off('uncaughtException', count));
  try {
    await startEmbeddedPostgres({ dataDir, nativeDir: native });
    t.fail('should not start');
  } catch (e) {
    t.ok(isSwitchError(e, 'SW_ERR_DB_EMBEDDED_FAILED'), 'SW_ERR_DB_EMBEDDED_FAILED');
    t.match((e as Error).message, /could not initialise: .*EACCES/);
    t.match((e as Error).message, /cannot run .*bin: run npm install again, or set DATABASE_URL/);
  }
  t.equal(uncaught, 0, 'no uncaught exception');
});
