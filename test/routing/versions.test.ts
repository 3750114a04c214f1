import t from 'tap';
import pg from 'pg';
import { testDb } from '../helpers/db.js';
import { RuleVersionStore, RulesWatcher, migrateRouting } from '../../src/routing/versions.js';
import { loadRuleSet, readRuleFiles, DEFAULT_RULES_DIR } from '../../src/routing/rules-loader.js';
import { RoutingEngine } from '../../src/routing/engine.js';
import { RiskScorer } from '../../src/risk/scorer.js';
import { isSwitchError } from '../../src/errors.js';
import type { VelocityStore } from '../../src/risk/velocity.js';

const quiet = { info: () => undefined, warn: () => undefined };

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

const variant = (priority: number): unknown => {
  const f = readRuleFiles(DEFAULT_RULES_DIR) as Record<string, any>;
  f.routing.rules.at(-1).then.terminals[0].priority = priority;
  return f;
};

t.test('versions: immutable, unique by content, validated, activate and roll back with audit', async (t) => {
  const db = await testDb(t);
  const m = await migrateRouting(db.pool);
  t.same(m.applied, ['001_rule_versions.sql', '002_manual_controls.sql']);
  const store = new RuleVersionStore(db.pool);
  t.equal(await store.active(), null);
  await t.rejects(store.activeRuleSet(), { code: 'SW_ERR_RULES_NO_ACTIVE_VERSION' });

  const rs = loadRuleSet();
  const v1 = await store.create(rs, { author: 'alice', comment: 'initial' });
  t.equal(v1.created, true);
  t.equal(v1.hash, rs.hash);
  const again = await store.create(readRuleFiles(DEFAULT_RULES_DIR), { author: 'bob' });
  t.same([again.version, again.created], [v1.version, false], 'same content → same version');
  const v2 = await store.create(variant(3), { author: 'bob', comment: 'default prio 3' });
  t.equal(v2.version, v1.version + 1);
  t.same(
    (await store.list()).map((v) => [v.version, v.author, v.comment]),
    [
      [v2.version, 'bob', 'default prio 3'],
      [v1.version, 'alice', 'initial'],
    ],
  );
  const got = await store.get(v1.version);
  t.equal(got.hash, rs.hash, 'hash survives jsonb');
  t.equal(got.version, v1.version);
  await t.rejects(store.get(999), { code: 'SW_ERR_RULES_VERSION_NOT_FOUND' });
  await t.rejects(store.create({ ...readRuleFiles(DEFAULT_RULES_DIR), routing: { rules: [] } }, { author: 'x' }), { code: 'SW_ERR_RULES_INVALID' });

  await t.rejects(db.pool.query('update routing_rule_versions set author = $1', ['mallory']), /append-only/);
  await t.rejects(db.pool.query('delete from routing_rule_versions'), /append-only/);

  // An invalid set that got into the table some other way is never activated.
  const bad = await db.pool.query<{ version: string }>(
    `insert into routing_rule_versions (content_hash, content, author) values ($1, '{"routing":{}}', 'x') returning version`,
    ['0'.repeat(64)],
  );
  const err = await store.activate(Number(bad.rows[0]!.version), { actor: 'ops' }).catch((e: unknown) => e);
  t.ok(isSwitchError(err), 'refused');
  t.equal(await store.active(), null, 'nothing active');

  const a1 = await store.activate(v1.version, { actor: 'alice', comment: 'go' });
  t.equal(a1.version, v1.version);
  await store.activate(v2.version, { actor: 'bob' });
  t.equal((await store.active())!.version, v2.version);
  const rb = await store.rollback({ actor: 'carol', comment: 'oops' });
  t.equal(rb.version, v1.version);
  const h = await store.history();
  t.same(
    h.map((x) => [x.kind, x.version, x.previous, x.actor]),
    [
      ['rollback', v1.version, v2.version, 'carol'],
      ['activate', v2.version, v1.version, 'bob'],
      ['activate', v1.version, null, 'alice'],
    ],
  );
});

t.test('activating a version through one instance reaches the other; in-flight decisions keep their version', async (t) => {
  const db = await testDb(t);
  await migrateRouting(db.pool);
  // A second "instance": its own pool on the same schema.
  const poolB = new pg.Pool({ connectionString: db.url, max: 3 });
  t.teardown(() => poolB.end());
  const storeA = new RuleVersionStore(db.pool);
  // A long risk time budget, so the gated decision below really is in flight across the swap.
  const slowRisk = (priority: number): unknown => {
    const f = variant(priority) as Record<string, any>;
    f.risk.timeout_ms = 60_000;
    return f;
  };
  const v1 = await storeA.create(slowRisk(1), { author: 'alice' });
  const v2 = await storeA.create(slowRisk(4), { author: 'alice' });
  await storeA.activate(v1.version, { actor: 'alice' });

  const changes: number[] = [];
  const wa = await RulesWatcher.start({ pool: db.pool, logger: quiet, pollMs: 60_000 });
  const wb = await RulesWatcher.start({ pool: poolB, logger: quiet, pollMs: 60_000, onChange: (n) => changes.push(n.version!) });
  t.teardown(async () => {
    await wa.close();
    await wb.close();
  });
  t.equal(wa.version, v1.version);
  t.equal(wb.version, v1.version);

  // A decision on B that is slow in risk scoring, started under v1.
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let scoring = false;
  const slowVelocity: VelocityStore = { hit: async (_k, w) => ((scoring = true), await gate, w.map(() => 0)), hitAmount: async (_k, _a, w) => w.map(() => 0) };
  const engine = new RoutingEngine({ rules: () => wb.current(), scorer: new RiskScorer({ velocity: slowVelocity }) });
  const oldCompiled = wb.current();
  const ctx = { bin: '36000000', cardToken: 'tok', amountMinor: 100, currency: '978', merchantId: 'SHOP00000000004', psp: 'psp-alpha', at: new Date() };
  const inflight = engine.decide(ctx);

  // LISTEN/NOTIFY only (poll set to a minute): B follows A's activation.
  await storeA.activate(v2.version, { actor: 'bob' });
  const ms = await waitFor(() => wb.version === v2.version, 10_000);
  t.comment(`instance B switched to version ${v2.version} ${ms} ms after activation on A`);
  t.equal(wa.version, v2.version);
  t.same(changes, [v1.version, v2.version], 'initial load, then the activation');
  t.equal(oldCompiled.version, v1.version, 'the old compiled object is untouched');

  let settled = false;
  void inflight.then(() => (settled = true));
  // one turn of the event loop runs the callback above if the decision had already finished
  await new Promise((r) => setImmediate(r));
  t.ok(scoring, 'the decision reached risk scoring before the swap');
  t.equal(settled, false, 'and was still in flight during the swap (held at the scorer)');
  release();
  const d = await inflight;
  t.equal(d.explanation.rulesVersion, v1.version, 'the in-flight decision finished under v1');
  const d2 = await engine.decide(ctx);
  t.equal(d2.explanation.rulesVersion, v2.version, 'the next decision uses v2');
});

t.test('watcher poll picks up an activation even without LISTEN', async (t) => {
  const db = await testDb(t);
  await migrateRouting(db.pool);
  const store = new RuleVersionStore(db.pool);
  const v1 = await store.create(loadRuleSet(), { author: 'alice' });
  const w = await RulesWatcher.start({ pool: db.pool, logger: quiet, pollMs: 100 });
  t.teardown(() => w.close());
  t.throws(() => w.current(), { code: 'SW_ERR_RULES_NO_ACTIVE_VERSION' });
  // Activate with a plain update path that sends no NOTIFY to a different channel-listener: poll must find it.
  await db.pool.query('insert into routing_active_version (version, activated_by) values ($1, $2)', [v1.version, 'direct']);
  await waitFor(() => w.version === v1.version, 10_000);
  t.equal(w.current().hash, v1.hash);
});

t.test('the server dropping the LISTEN connection after the watcher closed: no crash, the client released once', async (t) => {
  const db = await testDb(t);
  await migrateRouting(db.pool);
  const app = `watcher-${db.schema}`; // unique: the schema is this test's own
  const u = new URL(db.url);
  u.searchParams.set('application_name', app);
  const pool = new pg.Pool({ connectionString: u.toString(), max: 2 });
  pool.on('error', () => undefined);
  t.teardown(() => pool.end());
  const w = await RulesWatcher.start({ pool, logger: quiet, pollMs: 60_000 });
  await w.close();
  // the listener's connection, back in the pool, is cut by the server (as at a shutdown)
  const { rows } = await db.pool.query<{ n: number }>('select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1', [
    app,
  ]);
  t.ok(rows[0]!.n >= 1, 'its connection was terminated');
  await waitFor(() => pool.idleCount === 0, 10_000);
  t.equal(pool.totalCount, 0, 'the cut connection left the pool (released once: a second release would have thrown out of the handler)');
  t.same((await pool.query<{ one: number }>('select 1 as one')).rows, [{ one: 1 }], 'and the pool still serves queries');
});
