/**
 * F17 (docs/faults.md): Redis goes away for 10 s (a TCP proxy in front of it cuts every connection) under load
 * on two instances that share it. Routing goes on from each instance's own failure counts and risk scoring from
 * its own velocity counts: the PSPs see no error caused by it, every authorization is approved as before. Once
 * Redis is back, both instances leave degraded mode and judge from shared counts again: failures recorded on
 * one are seen by the other. Every terminal and merchant has a turnover limit, so the turnover counters (Redis)
 * are met by every authorization as well, and the success rates are the shared ones.
 */
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { testRedis } from '../helpers/redis.js';
import { behindProxy } from '../helpers/proxy.js';
import { decodeExplanation } from '../../src/routing/explanation-codec.js';
import { startTestSwitch, activeFiles, activateFiles, auth, rc, eventually } from '../helpers/switch.js';
import { until } from '../helpers/wait.js';

const OUTAGE_MS = 10_000;

t.test('F17: Redis down for 10 s under load on two instances', async (t) => {
  const db = await testDb(t, { max: 4 });
  const redis = await testRedis(t);
  const { proxy, url } = await behindProxy(t, redis.url, 6379);
  const overrides = { acquirerTimeoutMs: 3_000, redis: { url, prefix: redis.prefix } };
  const a = await startTestSwitch(t, { db, overrides });
  const b = await startTestSwitch(t, { db, overrides });
  // Turnover limits on every terminal and merchant (far above this load), so their counters in Redis are on the
  // path of every authorization too.
  const files = activeFiles(a);
  const limit = { '978': { day: { amount_minor: 1e12, count: 1e6 }, month: { amount_minor: 1e13 } } };
  for (const x of files.terminals.terminals as Record<string, unknown>[]) x.turnover = limit;
  for (const x of files.merchants.merchants as Record<string, unknown>[]) x.turnover = limit;
  const version = await activateFiles(a, files, 'F17: turnover limits on every terminal and merchant');
  await eventually(() => b.h.watcher.version === version, 'the limits at both instances');

  const codes: { code: string; during: boolean }[] = [];
  let phase: 'before' | 'during' | 'after' | 'done' = 'before';
  const load = Promise.all(
    [a.client, b.client, await a.connect(), await b.connect()].map(async (c) => {
      while (phase !== 'done') {
        const during = phase === 'during';
        const r = await c.send(auth({ amount: 1_700 }), { timeoutMs: 30_000 }).then(rc, () => 'no answer');
        codes.push({ code: r ?? '', during });
      }
    }),
  );
  await eventually(() => codes.length >= 40, 'load flowing');
  phase = 'during';
  const downAt = new Date();
  proxy.down();
  await eventually(() => a.h.detector.degraded && b.h.detector.degraded, 'both instances notice Redis is gone');
  // The outage lasts OUTAGE_MS: its length is the fault under test, so this wait is deliberate. It also lasts until
  // 40 authorizations have met it, however slow the machine (the count is asserted below).
  await Promise.all([
    new Promise((r) => setTimeout(r, OUTAGE_MS)),
    eventually(() => codes.filter((x) => x.during).length >= 40, '40 authorizations during the outage', 60_000),
  ]);
  const duringCount = codes.filter((x) => x.during).length;
  const upAgainAt = new Date();
  proxy.up();
  phase = 'after';
  await eventually(() => !a.h.detector.degraded && !b.h.detector.degraded, 'both instances back on the shared counts', 30_000);
  const upAt = codes.length;
  await eventually(() => codes.length >= upAt + 40, 'load after');
  phase = 'done';
  await load;

  t.ok(duringCount >= 40, `${duringCount} authorizations while Redis was away`);
  const notApproved = codes.filter((x) => x.code !== '00');
  t.same(notApproved, [], `every one of ${codes.length} approved: no error caused by Redis`);

  // scored from the local velocity counts, not the scorer's error fallback
  const { rows } = await db.pool.query<{ explanation: string | null }>(
    `select explanation from switch_txn where kind = 'auth' and created_at between $1 and $2`,
    [downAt, upAgainAt],
  );
  const fallbacks = rows.filter((r) => decodeExplanation(r.explanation)?.risk.reasons.includes('scorer_failed')).length;
  t.ok(rows.length >= 40, `${rows.length} scored during the outage`);
  t.equal(fallbacks, 0, "none of them on the scorer's failure fallback");

  // converged: failures one instance records reach the other through Redis again
  for (let i = 0; i < 30; i++) a.h.detector.fail(a.h.detector.start(['f17-probe']), 'fast');
  const seen = await until(
    () => b.h.detector.health('f17-probe'),
    (h) => !h.alive && h.volume === 30,
    10_000,
  );
  t.notOk(seen.alive, 'instance B judges the route dead');
  t.equal(seen.volume, 30, 'from the 30 failures A recorded (it recorded none itself)');
  t.notOk(b.h.detector.degraded, 'from the shared counts, not in degraded mode');
});
