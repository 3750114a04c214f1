/**
 * Multi-host database URLs (src/store/multi-host.ts): parsed as libpq reads them, and a pool on such a URL
 * connects to the first host that qualifies, skipping one that is down, failing at once (not hanging) when none
 * does. Following a promoted standby is proven with two real clusters in test/integration/db-failover.test.ts.
 */
import t from 'tap';
import { parseMultiHost } from '../../src/store/multi-host.js';
import { checkDatabase, createPool, redactUrl } from '../../src/store/postgres.js';
import { testDb } from '../helpers/db.js';
import { isSwitchError } from '../../src/errors.js';

t.test('parsed as libpq reads it', async (t) => {
  const m = parseMultiHost('postgres://sw:pw@db1:5433,db2,[::1]:5435/switch?target_session_attrs=read-write&options=-c%20search_path%3Dsw')!;
  t.same(m.hosts, [
    { host: 'db1', port: 5433 },
    { host: 'db2', port: 5432 },
    { host: '::1', port: 5435 },
  ]);
  t.equal(m.readWrite, true);
  t.equal(m.urlFor(m.hosts[1]!), 'postgres://sw:pw@db2:5432/switch?options=-c+search_path%3Dsw', 'one host, the other parameters kept');
  t.equal(m.urlFor(m.hosts[2]!).startsWith('postgres://sw:pw@[::1]:5435/switch'), true);
  t.equal(parseMultiHost('postgres://sw@db1:5432/switch'), null, 'one host, no target_session_attrs: left to node-postgres');
  t.equal(parseMultiHost('postgres://sw@db1:5432/switch?target_session_attrs=any')!.readWrite, false);
  t.equal(parseMultiHost('postgres://sw@db1/switch?target_session_attrs=primary')!.readWrite, true);
  t.throws(() => parseMultiHost('postgres://sw@db1,db2/switch?target_session_attrs=standby'), { code: 'SW_ERR_CONFIG_INVALID' });
  t.equal(redactUrl('postgres://sw:secret@db1,db2/switch'), 'postgres://sw:***@db1,db2/switch', 'the password is not logged');
});

t.test('a pool on several hosts: the first one down is skipped, none up fails at once', async (t) => {
  const db = await testDb(t);
  const u = new URL(db.url);
  const multi = `postgres://${u.username}${u.password ? `:${u.password}` : ''}@127.0.0.1:1,${u.host}${u.pathname}${u.search}${u.search ? '&' : '?'}target_session_attrs=read-write`;
  const pool = createPool(multi, { max: 2 });
  t.teardown(() => pool.end());
  const r = await pool.query<{ s: string }>('select current_schema() as s');
  t.equal(r.rows[0]!.s, db.schema, 'connected to the live host, with the URL options');
  await checkDatabase(multi);

  const dead = createPool('postgres://postgres@127.0.0.1:1,127.0.0.1:2/x?target_session_attrs=read-write', { max: 1 });
  t.teardown(() => dead.end());
  const t0 = Date.now();
  const err = await dead.query('select 1').then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(isSwitchError(err) && err.code === 'SW_ERR_DB_UNAVAILABLE', `SW_ERR_DB_UNAVAILABLE: ${String(err)}`);
  t.match(String((err as Error).message), /127\.0\.0\.1:1.*127\.0\.0\.1:2/, 'naming every host');
  t.ok(Date.now() - t0 < 2_000, `failed in ${Date.now() - t0} ms: no hang`);
});
