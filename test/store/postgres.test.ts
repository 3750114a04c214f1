import t from 'tap';
import pg from 'pg';
import { createPool, redactUrl, resolveDatabaseUrl, tmpDataDir } from '../../src/store/postgres.js';
import { testDb } from '../helpers/db.js';
import { embeddedLayout, removeEmbeddedCluster } from '../../src/store/embedded-pg.js';

t.test('DATABASE_URL wins', async (t) => {
  const r = await resolveDatabaseUrl({ env: { DATABASE_URL: 'postgres://u:p@h:1/d' } });
  t.equal(r.source, 'env');
  t.equal(r.url, 'postgres://u:p@h:1/d');
  await r.stop();
  t.equal(redactUrl(r.url), 'postgres://u:***@h:1/d');
});

t.test('without DATABASE_URL an embedded server is started, and restarts on the same data', async (t) => {
  const dataDir = tmpDataDir();
  // as root the cluster itself is under /var/lib/iso8583-switch (src/store/embedded-pg.ts): removed whole
  t.teardown(() => removeEmbeddedCluster(embeddedLayout(dataDir)));
  const r = await resolveDatabaseUrl({ env: {}, dataDir });
  t.equal(r.source, 'embedded');
  t.match(r.url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
  const pool = createPool(r.url, { max: 1 });
  await pool.query('create table keep (v int); insert into keep values (42)');
  const { rows } = await pool.query(`select current_setting('synchronous_commit') as s`);
  t.equal(rows[0].s, 'on');
  await pool.end();
  await r.stop();
  const r2 = await resolveDatabaseUrl({ env: {}, dataDir });
  const c = new pg.Client(r2.url);
  await c.connect();
  t.same((await c.query('select v from keep')).rows, [{ v: 42 }], 'data persisted across restart');
  await c.end();
  await r2.stop();
});

t.test('test databases are isolated by schema, and the url lands in the same schema', async (t) => {
  const a = await testDb(t);
  const b = await testDb(t);
  t.not(a.schema, b.schema);
  await a.pool.query('create table iso (v int); insert into iso values (1)');
  await t.rejects(b.pool.query('select * from iso'), { code: '42P01' });
  const c = new pg.Client(a.url);
  await c.connect();
  t.same((await c.query('select v from iso')).rows, [{ v: 1 }]);
  await c.end();
});
