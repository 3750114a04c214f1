/**
 * 8 workers on two ledger instances (two pools, as two switch processes would) move money around a circle of
 * accounts: every hop is its own plan (hold, sometimes a rollback and a fresh hold, then commit), calls are
 * randomly replayed (also concurrently), and a killer terminates the ledger's database connections at random.
 * At the end every balance is back to zero and the audit passes.
 */
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { createPool } from '../../src/store/postgres.js';
import { seededRandom, testSeed } from '../helpers/seed.js';

const N = 8;
const WORKERS = 8;
const CIRCLES = 2;

async function persist<T>(f: () => Promise<T>): Promise<T> {
  // A caller that cannot know the outcome (connection lost during COMMIT, server busy) replays the same call.
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if ((code === 'SW_ERR_GROUP_COMMIT_UNKNOWN' || code === 'SW_ERR_DB_UNAVAILABLE') && i < 500) {
        await new Promise((r) => setTimeout(r, 20)); // a retrying caller's pause, not a wait for anything
        continue;
      }
      if (process.env.DEBUG_CONC) console.error('persist gave up', code, (e as Error).stack, (e as { cause?: unknown }).cause);
      throw e;
    }
  }
}

t.test('money around a circle under retries and killed connections', async (t) => {
  const db = await testDb(t);
  const app = `ledger-conc-${db.schema}`;
  const pools = [createPool(db.url, { max: 4, applicationName: app }), createPool(db.url, { max: 4, applicationName: app })];
  t.teardown(() => Promise.all(pools.map((p) => p.end())));
  const ledgers: Ledger[] = [];
  for (const pool of pools) ledgers.push(await createLedger({ pool, maxWaitMs: 2, maxInFlight: 2 }));
  t.teardown(() => Promise.all(ledgers.map((l) => l.close())));
  const acc = Array.from({ length: N }, (_, i) => `c${i}`);
  for (const a of acc) await ledgers[0]!.ensureAccount({ code: a, kind: 'system', currency: 978 });

  // every random choice from one seed (TEST_SEED replays a run; which calls the kills meet still depends on timing)
  const seed = testSeed(t, 0xc1c1e);
  const killRandom = seededRandom(seed ^ 0x5eed);
  let stop = false;
  let kills = 0;
  const killer = (async () => {
    while (!stop) {
      // the killer's pace: a chaos monkey striking every 50-150 ms, not a wait for anything
      await new Promise((r) => setTimeout(r, 50 + killRandom() * 100));
      const { rows } = await db.pool
        .query<{ pid: number }>(`select pid from pg_stat_activity where application_name = $1 order by pid`, [app])
        .catch(() => ({ rows: [] as Array<{ pid: number }> }));
      const victims = rows.filter(() => killRandom() < 0.3).map((r) => r.pid);
      if (victims.length === 0) continue;
      const { rows: killed } = await db.pool
        .query<{ k: boolean }>('select pg_terminate_backend(pid) as k from unnest($1::int[]) as pid', [victims])
        .catch(() => ({ rows: [] as Array<{ k: boolean }> }));
      kills += killed.filter((r) => r.k).length;
    }
  })();

  let ops = 0;
  let replays = 0;
  const worker = async (w: number) => {
    const ledger = ledgers[w % 2]!;
    const random = seededRandom(seed + 1 + w); // one sequence per worker: its choices do not depend on the others' pace
    for (let c = 0; c < CIRCLES; c++) {
      const amount = BigInt(1 + Math.floor(random() * 1000));
      const start = Math.floor(random() * N);
      for (let h = 0; h < N; h++) {
        const from = acc[(start + h) % N]!;
        const to = acc[(start + h + 1) % N]!;
        const postings = [{ from, to, amount, currency: 978 }];
        let attempt = 0;
        for (;;) {
          const id = `w${w}-c${c}-h${h}-a${attempt}`;
          const hold = () => persist(() => ledger.hold(id, postings));
          const first = await hold();
          ops++;
          if (random() < 0.3) {
            replays++;
            const [a, b] = await Promise.all([hold(), persist(() => ledgers[(w + 1) % 2]!.hold(id, postings))]);
            if (JSON.stringify(a) !== JSON.stringify(first) || JSON.stringify(b) !== JSON.stringify(first)) throw new Error('replay differs');
          }
          if (random() < 0.25) {
            await persist(() => ledger.rollback(id));
            if (random() < 0.3) await persist(() => ledger.rollback(id));
            attempt++;
            continue;
          }
          await persist(() => ledger.commit(id));
          if (random() < 0.3) {
            replays++;
            await persist(() => ledgers[(w + 1) % 2]!.commit(id));
          }
          break;
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  } finally {
    stop = true;
    await killer;
  }
  t.ok(ops >= WORKERS * CIRCLES * N, `${ops} holds, ${replays} replays, ${kills} connections killed`);
  for (const a of acc) {
    const b = await ledgers[0]!.balances(a);
    t.same([b.posted, b.debitsPending, b.creditsPending], [0n, 0n, 0n], `${a} back to zero`);
  }
  const { rows } = await db.pool.query(`select count(*)::int as n from ledger_plan where state = 'HOLD'`);
  t.equal(rows[0].n, 0, 'no plan left in HOLD');
  const r = await ledgers[1]!.check();
  t.same(r.violations, []);
  t.ok(r.ok);
});
