/**
 * F13 (docs/faults.md): the acquirer is down for hours (the seeds tell of two hours every two weeks). A queued
 * reversal is repeated for as long as `saf.expireAfterMs` (a day by default), however many attempts that takes;
 * it dead-letters only then. An operator's retry that fails again leaves it a dead letter, still listed.
 * Time is compressed: the queue's windows are seconds here, the acquirer is down through all of them.
 */
import t from 'tap';
import { DEFAULT_CONFIG } from '../../src/switch/config.js';
import { SwitchSafQueries } from '../../src/switch/store/index.js';
import type { Rule } from '../../simulators/acquirer/index.js';
import { startTestSwitch, auth, rc, txnOf, eventually, type TestSwitch } from '../helpers/switch.js';

const DECLINE_0002: Rule = { when: { panSuffix: '0002' }, respond: '05' };

async function entry(s: TestSwitch, txnId: string) {
  const { rows } = await s.db.pool.query<{ id: string; done_at: Date | null; attempts: number }>(
    'select id, done_at, attempts from switch_saf where txn_id = $1',
    [txnId],
  );
  return rows[0];
}

t.test('the defaults outlast a two-hour outage', async (t) => {
  t.ok(DEFAULT_CONFIG.saf.expireAfterMs >= 2 * 3600_000, 'a reversal is repeated for at least two hours');
  t.ok(DEFAULT_CONFIG.saf.retryMaxMs <= 5 * 60_000, 'at least every five minutes, so it goes out soon after the acquirer is back');
});

t.test('F13: reversals repeated until they expire, not until an attempt count', async (t) => {
  // back-off 10-20 ms, each attempt failing (the acquirer is down): the entry is repeated past the old limit of 30
  // attempts, however slowly a busy machine gets there (its expiry is far off); then its expiry is moved to now,
  // as the clock would move it, and it becomes a dead letter
  const s = await startTestSwitch(t, {
    overrides: { acquirerTimeoutMs: 600, saf: { retryInitialMs: 10, retryMaxMs: 20, timeoutMs: 300, expireAfterMs: 600_000, retryWindowMs: 1_500 } },
  });
  const queries = new SwitchSafQueries(s.db.pool, s.h.saf);
  // the reversal is not answered either: under load the SAF worker sends it before the outage below begins
  for (const sim of s.sims())
    sim.setBehaviour({ rules: [{ when: { panSuffix: '0013' }, action: 'drop' }, { when: { mti: ['0420', '0421'] }, action: 'drop' }, DECLINE_0002] });
  const req = auth({ pan: '4111111111110013', amount: 1_300 });
  t.equal(rc(await s.client.send(req)), '91');
  const row = (await txnOf(s.db.pool, req))!;
  const sim = s.sim(row.acquirer!);
  sim.startOutage(3600_000, 'down');

  const busy = await eventually(
    async () => {
      const e = await entry(s, row.id);
      return e && e.attempts >= 31 ? e : undefined;
    },
    '31 attempts',
    120_000,
  );
  t.equal(busy.done_at, null, 'past 31 attempts (the old limit was 30) it is still queued');
  t.same(await queries.deadLetters(10), [], 'not a dead letter');
  await s.db.pool.query('update switch_saf set expires_at = now() where txn_id = $1', [row.id]);

  const dead = await eventually(async () => (await queries.deadLetters(10))[0], 'dead letter once expired', 45_000);
  t.equal(dead.txId, row.id);
  t.equal(dead.state, 'dead');
  const {
    rows: [dl],
  } = await s.db.pool.query<{ reason: string; attempts: number }>('select reason, attempts from switch_dead_letter where txn_id = $1', [row.id]);
  t.match(dl!.reason, /expired/);
  t.ok(dl!.attempts >= 31, `after ${dl!.attempts} attempts`);
  t.equal((await txnOf(s.db.pool, req))!.state, 'timed_out', 'the transaction waits for its reversal');

  // the operator retries while the acquirer is still down: it is repeated for retryWindowMs, then dead again
  t.equal(await s.h.saf.retry(dead.id), true, 'retried');
  t.same(await queries.deadLetters(10), [], 'being repeated: not listed as dead meanwhile');
  t.equal((await queries.list(10)).find((e) => e.txId === row.id)?.state, 'pending', 'queued again');
  const again = await eventually(async () => (await queries.deadLetters(10))[0], 'a dead letter again after the retry window');
  t.equal(again.id, dead.id, 'the same entry, visible as a dead letter');
  t.equal((await entry(s, row.id))!.done_at !== null, true, 'not being repeated');

  // the acquirer is back (its link reconnected, and it answers reversals again): the operator's next retry delivers it
  sim.setBehaviour({ rules: [DECLINE_0002] });
  sim.startOutage(0, 'down');
  await s.h.acquirers.get(row.acquirer!).link.waitReady(1, 30_000);
  // Back also means its breaker lets a call through again: the outage's fast failures opened it, and it half-opens
  // within its reset timeout (5 s). A retry while it is still open would spend the whole 1.5 s window on
  // rejections and go dead again, which is the breaker doing its job, not the retry failing.
  await eventually(() => s.h.breakers.state(row.acquirer!) !== 'open', 'the breaker half-open or closed', 15_000);
  t.equal(await s.h.saf.retry(dead.id), true);
  await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'reversed', 'reversed');
  t.ok(sim.journal.count({ direction: 'out', mti: '0430', rrn: row.acq_rrn! }) >= 1, 'the acquirer answered it');
  t.same(await queries.deadLetters(10), [], 'no dead letter left');
  t.ok((await s.h.ledger.check()).ok);
});
