import t from 'tap';
import { testDb } from '../helpers/db.js';
import { createGroupCommit } from '../../src/store/group-commit.js';
import { createPool } from '../../src/store/postgres.js';
import { SwitchError } from '../../src/errors.js';

interface Req {
  id: number;
  v: number;
}

async function setup(t: Parameters<typeof testDb>[0]) {
  const db = await testDb(t);
  await db.pool.query('create table gc (id int primary key, v int not null check (v >= 0), txid bigint not null default txid_current())');
  return db;
}

// Multi-row insert from arrays; a request with v > 1000 is rejected by validation (nothing written for it).
async function flush(client: import('pg').PoolClient, reqs: readonly Req[]): Promise<Array<number | Error>> {
  const ok = reqs.filter((r) => r.v <= 1000);
  await client.query('insert into gc (id, v) select * from unnest($1::int[], $2::int[])', [ok.map((r) => r.id), ok.map((r) => r.v)]);
  return reqs.map((r) => (r.v <= 1000 ? r.id : new SwitchError('SW_ERR_LEDGER_BAD_REQUEST', { planId: String(r.id), reason: 'too big' })));
}

t.test('concurrent submits share transactions; each caller gets its own answer', async (t) => {
  const db = await setup(t);
  const gc = createGroupCommit<Req, number>({ pool: db.pool, maxWaitMs: 5, maxBatch: 64, flush });
  const n = 300;
  const res = await Promise.all(Array.from({ length: n }, (_, i) => gc.submit({ id: i, v: i })));
  t.same(
    res,
    Array.from({ length: n }, (_, i) => i),
  );
  const { rows } = await db.pool.query('select count(*)::int as n, count(distinct txid)::int as tx from gc');
  t.equal(rows[0].n, n);
  t.ok(rows[0].tx < n / 4, `grouped into ${rows[0].tx} transactions`);
  const st = gc.stats();
  t.ok(st.maxBatchSeen > 1 && st.maxBatchSeen <= 64);
  await gc.close();
  await t.rejects(gc.submit({ id: 9999, v: 1 }), { code: 'SW_ERR_GROUP_COMMIT_CLOSED' });
});

t.test('a rejected request fails alone; a request that breaks the whole statement fails alone too', async (t) => {
  const db = await setup(t);
  const gc = createGroupCommit<Req, number>({ pool: db.pool, maxWaitMs: 20, maxBatch: 100, flush });
  const reqs: Req[] = [
    { id: 1, v: 1 },
    { id: 2, v: 5000 }, // validation error
    { id: 3, v: -1 }, // check constraint violation: fails the multi-row statement, isolated re-run
    { id: 4, v: 4 },
    { id: 4, v: 4 }, // duplicate key within the batch
  ];
  const out = await Promise.allSettled(reqs.map((r) => gc.submit(r)));
  t.same(
    out.map((o) => o.status),
    ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected'],
  );
  t.match((out[1] as PromiseRejectedResult).reason, { code: 'SW_ERR_LEDGER_BAD_REQUEST' });
  t.match((out[2] as PromiseRejectedResult).reason, { code: '23514' });
  t.match((out[4] as PromiseRejectedResult).reason, { code: '23505' });
  const { rows } = await db.pool.query('select id from gc order by id');
  t.same(
    rows.map((r) => r.id),
    [1, 4],
  );
  t.ok(gc.stats().isolatedBatches >= 1);
  await gc.close();
});

t.test('a killed connection is retried for idempotent flushes and nothing is lost', async (t) => {
  const db = await setup(t);
  const pool = createPool(db.url, { max: 4 });
  t.teardown(() => pool.end());
  let calls = 0;
  const gc = createGroupCommit<Req, number>({
    pool,
    maxWaitMs: 2,
    idempotent: true,
    flush: async (client, reqs) => {
      calls++;
      if (calls % 3 === 1) {
        // kill our own backend mid-transaction, from another session
        const { rows } = await client.query('select pg_backend_pid() as pid');
        await db.pool.query('select pg_terminate_backend($1)', [rows[0].pid]);
        await client.query('select 1');
      }
      await client.query('insert into gc (id, v) select * from unnest($1::int[], $2::int[]) on conflict (id) do nothing', [
        reqs.map((r) => r.id),
        reqs.map((r) => r.v),
      ]);
      return reqs.map((r) => r.id);
    },
  });
  const res = await Promise.all(Array.from({ length: 50 }, (_, i) => gc.submit({ id: i, v: 1 })));
  t.equal(res.length, 50);
  const { rows } = await db.pool.query('select count(*)::int as n from gc');
  t.equal(rows[0].n, 50);
  t.ok(gc.stats().retries >= 1);
  await gc.close();
});

t.test('non-idempotent flush: connection loss before commit retries; server down gives a typed error', async (t) => {
  const db = await setup(t);
  const bad = createPool('postgres://postgres@127.0.0.1:1/none', { max: 1 });
  t.teardown(() => bad.end());
  const gc = createGroupCommit<Req, number>({ pool: bad, retries: 1, flush });
  await t.rejects(gc.submit({ id: 1, v: 1 }), { code: 'SW_ERR_DB_UNAVAILABLE' });
  const gc2 = createGroupCommit<Req, number>({ pool: db.pool, flush: async () => [] });
  await t.rejects(gc2.submit({ id: 1, v: 1 }), { code: 'SW_ERR_GROUP_COMMIT_FLUSH' });
  const gc3 = createGroupCommit<Req, number>({ pool: db.pool, maxQueue: 2, maxWaitMs: 50, flush });
  const ps = [gc3.submit({ id: 1, v: 1 }), gc3.submit({ id: 2, v: 1 })];
  await t.rejects(gc3.submit({ id: 3, v: 1 }), { code: 'SW_ERR_GROUP_COMMIT_OVERLOADED' });
  await Promise.all(ps);
  await gc3.close();
});

t.test('several batches in flight, onBatch observes each, close() drains the queue', async (t) => {
  const db = await setup(t);
  const seen: number[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const gc = createGroupCommit<Req, number>({
    pool: db.pool,
    maxWaitMs: 1,
    maxBatch: 10,
    maxInFlight: 3,
    onBatch: (b) => seen.push(b.size),
    flush: async (client, reqs) => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      try {
        await client.query('select pg_sleep(0.05)');
        return await flush(client, reqs);
      } finally {
        concurrent--;
      }
    },
  });
  const ps = Array.from({ length: 100 }, (_, i) => gc.submit({ id: i, v: i }));
  await gc.close();
  const res = await Promise.all(ps);
  t.equal(res.length, 100);
  t.ok(maxConcurrent > 1 && maxConcurrent <= 3, `max ${maxConcurrent} batches in flight`);
  t.equal(
    seen.reduce((a, b) => a + b, 0),
    100,
  );
  t.ok(seen.every((n) => n <= 10));
  const { rows } = await db.pool.query('select count(*)::int as n from gc');
  t.equal(rows[0].n, 100);
});
