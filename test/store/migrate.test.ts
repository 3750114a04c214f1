import t from 'tap';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { testDb } from '../helpers/db.js';
import { migrate } from '../../src/store/migrate.js';
import { createPool } from '../../src/store/postgres.js';

async function tmpDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'mig-'));
  t.teardown(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

t.test('applies files once, in order, per module, in the test schema', async (t) => {
  const db = await testDb(t);
  const dir = await tmpDir(t);
  await fs.writeFile(path.join(dir, '002_b.sql'), 'insert into m_a (v) values (2);');
  await fs.writeFile(path.join(dir, '001_a.sql'), 'create table m_a (v int);');
  await fs.writeFile(path.join(dir, 'README.md'), 'not sql');
  const r1 = await migrate(db.pool, { module: 'demo', dir });
  t.same(r1.applied, ['001_a.sql', '002_b.sql']);
  const r2 = await migrate(db.pool, { module: 'demo', dir });
  t.same(r2.applied, []);
  t.same(r2.skipped, ['001_a.sql', '002_b.sql']);
  const { rows } = await db.pool.query('select v from m_a');
  t.same(rows, [{ v: 2 }]);
  const s = await db.pool.query('select table_schema from information_schema.tables where table_name = $1', ['m_a']);
  t.same(s.rows, [{ table_schema: db.schema }]);
  // another module with the same file names is tracked separately
  const dir2 = await tmpDir(t);
  await fs.writeFile(path.join(dir2, '001_a.sql'), 'create table m_other (v int);');
  t.same((await migrate(db.pool, { module: 'other', dir: dir2 })).applied, ['001_a.sql']);
});

t.test('a changed applied file is refused; a failing file rolls back and names itself', async (t) => {
  const db = await testDb(t);
  const dir = await tmpDir(t);
  await fs.writeFile(path.join(dir, '001_a.sql'), 'create table m_c (v int);');
  await migrate(db.pool, { module: 'demo', dir });
  await fs.writeFile(path.join(dir, '001_a.sql'), 'create table m_c (v bigint);');
  await t.rejects(migrate(db.pool, { module: 'demo', dir }), { code: 'SW_ERR_MIGRATION_CHECKSUM' });
  await fs.writeFile(path.join(dir, '001_a.sql'), 'create table m_c (v int);');
  await fs.writeFile(path.join(dir, '002_bad.sql'), 'create table m_d (v int); select * from no_such_table;');
  await t.rejects(migrate(db.pool, { module: 'demo', dir }), { code: 'SW_ERR_MIGRATION_FAILED', message: /002_bad/ });
  const { rows } = await db.pool.query(`select to_regclass('m_d') as r`);
  t.equal(rows[0].r, null, 'partial migration rolled back');
});

t.test('instances starting together apply each file exactly once (advisory lock)', async (t) => {
  const db = await testDb(t);
  const dir = await tmpDir(t);
  await fs.writeFile(path.join(dir, '001_a.sql'), 'create table m_race (v int); select pg_sleep(0.2);');
  await fs.writeFile(path.join(dir, '002_b.sql'), 'insert into m_race values (1);');
  const pools = Array.from({ length: 4 }, () => createPool(db.url, { max: 2 }));
  t.teardown(() => Promise.all(pools.map((p) => p.end())));
  const results = await Promise.all(pools.map((p) => migrate(p, { module: 'race', dir })));
  t.equal(
    results.reduce((n, r) => n + r.applied.length, 0),
    2,
  );
  const { rows } = await db.pool.query('select count(*)::int as n from m_race');
  t.equal(rows[0].n, 1);
});
