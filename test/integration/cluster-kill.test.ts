/**
 * Three switch instances behind HAProxy (src/cluster/cluster.ts, the layout of `npm run cluster`), sharing one
 * PostgreSQL and one Redis; PSP clients send authorizations through HAProxy and one instance is killed with
 * kill -9 under that load (docs/faults.md F32):
 * - the PSP clients reconnect through HAProxy and the two survivors go on answering (their p99 is printed);
 * - every approval a PSP saw has exactly one hold, no decline holds money;
 * - every authorization the dead instance left in flight is reversed by the survivors within the recovery
 *   delay (the largest acquirer timeout + 5 s, then a sweep), with nobody restarting the dead one;
 * - `ledger:check` passes.
 * Then a rules activation made through one instance is measured reaching all three (switch_rules_version).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { startCluster } from '../../src/cluster/cluster.js';
import { RuleVersionStore } from '../../src/routing/versions.js';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { testRedis } from '../helpers/redis.js';
import { startSimulators, rulesFor, testOverrides, auth, rc, txnOf, eventually, ledgerOn, ROOT, ledgerCheckCli } from '../helpers/switch.js';
import { childEnv } from '../helpers/node-args.js';

const TOKEN = crypto.randomBytes(18).toString('base64url');
const SHA = crypto.createHash('sha256').update(TOKEN).digest('hex');
const ACQUIRER_TIMEOUT_MS = 400;
const SWEEP_MS = 500;
/** When the sweeper counts an intent without an answer as lost (src/app/runtime.ts: largest timeout + 5 s). */
const RECOVERY_DELAY_MS = ACQUIRER_TIMEOUT_MS + 5_000;

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

t.test('kill -9 of one of three instances behind HAProxy, under load', async (t) => {
  const db = await testDb(t, { max: 3 });
  const redis = await testRedis(t);
  const sims = await startSimulators(t);
  for (const sim of sims.values()) sim.setBehaviour({ latency: { distribution: 'uniform', minMs: 0, maxMs: 20 } });
  const rulesDir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const o = testOverrides(db.url, {
    rulesDir,
    acquirerTimeoutMs: ACQUIRER_TIMEOUT_MS,
    expiry: { sweepIntervalMs: SWEEP_MS },
    admin: { enabled: true, port: 0, tokens: [{ name: 'ops', role: 'operator', sha256: SHA, expires: '' }] },
    redis: { url: redis.url, prefix: redis.prefix },
    logLevel: 'warn',
  });
  delete o.database; // DATABASE_URL, as an operator sets it
  delete (o.psp as Record<string, unknown>).port;
  const cfgFile = path.join(dir, 'config.json');
  writeFileSync(cfgFile, JSON.stringify(o));

  const cluster = await startCluster({
    instances: 3,
    pspPort: 0,
    adminPort: 0,
    root: ROOT,
    workDir: dir,
    env: childEnv({ DATABASE_URL: db.url, SWITCH_CONFIG: cfgFile }),
  });
  t.teardown(() => cluster.stop());
  t.equal(cluster.instances.length, 3, 'three instances up');
  t.equal(cluster.redisSource, 'env');

  // A rules activation, made on the shared database as the admin API makes it, reaches every instance: timed from
  // the activation's commit to the moment each instance's /metrics shows the new version (polled every 10 ms).
  const versions = new RuleVersionStore(db.pool);
  const files = structuredClone((await versions.activeRuleSet()).files) as { routing: { rules: { description?: string }[] } };
  files.routing.rules[0]!.description = 'changed to time its activation on every instance';
  const v = await versions.create(files, { author: 'ops', comment: 'propagation' });
  const inUse = (port: number): Promise<number> =>
    fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((m) => Number(/^switch_rules_version (\d+)/m.exec(m)?.[1] ?? 0));
  const t0 = Date.now();
  await versions.activate(v.version, { actor: 'ops', comment: 'propagation' });
  const reached = await Promise.all(
    cluster.instances.map(async (i) => {
      while ((await inUse(i.adminPort)) !== v.version) {
        if (Date.now() - t0 > 10_000) throw new Error(`${i.name} not on v${v.version} after 10 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return Date.now() - t0;
    }),
  );
  t.comment(`rules v${v.version} in use on the three instances ${reached.join(' / ')} ms after its activation`);
  t.ok(Math.max(...reached) <= 1_000, `every instance within 1 s (slowest ${Math.max(...reached)} ms)`);

  // An operator drains an acquirer through HAProxy's admin frontend (whichever instance answers): every instance
  // shows it (switch_manual_control), then the drain is lifted the same way.
  const control = (method: 'PUT' | 'DELETE') =>
    fetch(`http://127.0.0.1:${cluster.adminPort}/api/controls/acquirer/acq-c`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(method === 'PUT' ? { 'content-type': 'application/json' } : {}) },
      ...(method === 'PUT' ? { body: JSON.stringify({ state: 'drain', reason: 'cluster test' }) } : {}),
    });
  const drained = (port: number): Promise<boolean> =>
    fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((m) => /^switch_manual_control\{[^}]*target="acq-c"[^}]*state="drain"[^}]*\} 1$/m.test(m));
  const c0 = Date.now();
  t.equal((await control('PUT')).status, 200, 'drain set through HAProxy');
  const seen = await Promise.all(
    cluster.instances.map(async (i) => {
      while (!(await drained(i.adminPort))) {
        if (Date.now() - c0 > 10_000) throw new Error(`${i.name} does not show the drain after 10 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return Date.now() - c0;
    }),
  );
  t.comment(`a drain set through one instance shown by all three ${seen.join(' / ')} ms later`);
  t.ok(Math.max(...seen) <= 1_000, 'on every instance within 1 s');
  t.ok([200, 204].includes((await control('DELETE')).status), 'and lifted');
  await eventually(async () => !(await Promise.all(cluster.instances.map((i) => drained(i.adminPort)))).some(Boolean), 'lifted everywhere');

  // 4 PSP connections through HAProxy, 8 requests in flight on each; a connection lost is made again.
  type Outcome = { req: IsoMessage; sentAt: number; res?: IsoMessage; answeredAt?: number; error?: string };
  const outcomes: Outcome[] = [];
  let n = 0;
  let stop = false;
  let reconnects = 0;
  const connect = () => PspClient.connect({ port: cluster.pspPort, timeoutMs: 20_000 });
  const panFor = (i: number): string => `4111${String(i).padStart(8, '0')}${i % 10 === 3 ? '0002' : String(1000 + (i % 9000)).padStart(4, '0')}`;
  const lines = await Promise.all(Array.from({ length: 4 }, async () => ({ c: await connect(), again: null as Promise<PspClient> | null })));
  t.teardown(() => Promise.all(lines.map((l) => l.c.close().catch(() => undefined))));
  const client = async (l: (typeof lines)[number]): Promise<PspClient> => {
    if (!l.c.closed) return l.c;
    l.again ??= (async () => {
      reconnects++;
      for (;;) {
        try {
          l.c = await connect();
          return l.c;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })().finally(() => (l.again = null));
    return l.again;
  };
  const workers = lines.flatMap((l) =>
    Array.from({ length: 8 }, async () => {
      while (!stop) {
        const c = await client(l);
        const i = n++;
        const req = auth({ pan: panFor(i), amount: 100 + (i % 5000), terminal: `T${String(i % 97).padStart(7, '0')}` });
        const out: Outcome = { req, sentAt: Date.now() };
        outcomes.push(out);
        try {
          out.res = await c.send(req);
          out.answeredAt = Date.now();
        } catch (e) {
          out.error = (e as { code?: string }).code ?? 'error';
        }
      }
    }),
  );
  await eventually(() => outcomes.filter((x) => x.res).length >= 300, '300 answers before the kill', 90_000, 20);
  const victim = cluster.instances[1]!;
  const tKill = Date.now();
  await cluster.kill9(victim.name);
  const atKill = outcomes.length;
  await eventually(() => outcomes.slice(atKill).filter((x) => x.res && rc(x.res) === '00').length >= 300, '300 approvals after the kill', 90_000, 20);
  stop = true;
  await Promise.all(workers);

  const answered = outcomes.filter((x) => x.res);
  const approved = answered.filter((x) => rc(x.res!) === '00');
  const declined = answered.filter((x) => rc(x.res!) !== '00');
  const cut = outcomes.filter((x) => !x.res);
  t.ok(reconnects >= 1, `PSP connections made again through HAProxy: ${reconnects}`);
  t.ok(cut.length >= 1, `requests in flight on the killed instance: ${cut.length}`);
  const during = answered.filter((x) => x.sentAt >= tKill && x.sentAt < tKill + 3_000).map((x) => x.answeredAt! - x.sentAt);
  const before = answered.filter((x) => x.sentAt < tKill).map((x) => x.answeredAt! - x.sentAt);
  t.ok(during.length >= 50, `the survivors answered ${during.length} requests in the 3 s after the kill`);
  t.comment(
    `answered ${answered.length} (approved ${approved.length}, declined ${declined.length}), cut ${cut.length}, reconnects ${reconnects}; ` +
      `p99 before the kill ${percentile(before, 99)} ms, in the 3 s after it ${percentile(during, 99)} ms (survivors)`,
  );
  for (const s of cluster.instances.filter((i) => i !== victim)) t.ok(s.alive, `${s.name} still up`);

  // In flight on the dead instance: the survivors' sweepers find the intents without an answer and reverse them.
  await eventually(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        `select (select count(*) from switch_txn where state = 'sent') + (select count(*) from switch_saf where done_at is null) as n`,
      );
      return Number(rows[0]!.n) === 0;
    },
    'nothing left in flight, every reversal delivered',
    60_000,
    100,
  );
  const recoveredMs = Date.now() - tKill;
  const bound = RECOVERY_DELAY_MS + 2 * SWEEP_MS + 5_000; // + a sweep, + the reversal's own round trips on a busy machine
  t.ok(
    recoveredMs <= bound,
    `in-flight requests reversed by the survivors ${recoveredMs} ms after the kill (recovery delay ${RECOVERY_DELAY_MS} ms; bound ${bound} ms)`,
  );

  const ledger = await ledgerOn(t, db.pool);
  let bad = 0;
  for (const x of approved) {
    const row = await txnOf(db.pool, x.req);
    const plan = row ? await ledger.plan(row.id) : undefined;
    if (!row || row.state !== 'approved' || plan?.state !== 'HOLD' || plan.amount !== BigInt(x.req.getString(4)!)) {
      if (++bad < 5) t.fail(`approval without exactly its hold: ${row?.state} ${plan?.state}`);
      continue;
    }
    if (sims.get(row.acquirer!)!.journal.count({ direction: 'in', mti: '0100', rrn: row.acq_rrn! }) !== 1) {
      if (++bad < 5) t.fail('approval sent to the acquirer more than once');
    }
  }
  t.equal(bad, 0, `every one of ${approved.length} approvals the PSP saw has exactly one hold`);
  let holding = 0;
  for (const x of declined) {
    const row = await txnOf(db.pool, x.req);
    const plan = row ? await ledger.plan(row.id) : undefined;
    if (plan && plan.state !== 'ROLLBACK') holding++;
  }
  t.equal(holding, 0, `none of ${declined.length} declines holds money`);
  let reversed = 0;
  for (const x of cut) {
    const row = await txnOf(db.pool, x.req);
    if (!row) continue; // never reached a switch
    const plan = await ledger.plan(row.id);
    if (plan?.state === 'HOLD' && row.state !== 'approved') t.fail(`hold on a ${row.state} transaction`);
    if (row.state === 'reversed') {
      reversed++;
      const sim = sims.get(row.acquirer!)!;
      t.equal(sim.journal.count({ direction: 'out', mti: ['0410', '0430'], rrn: row.acq_rrn! }) >= 1, true, 'its reversal answered by the acquirer');
    }
  }
  t.comment(
    `of ${cut.length} cut requests, ${reversed} reversed by the survivors (the rest never reached the switch, or their approval was recorded and is held)`,
  );
  const report = await ledger.check();
  t.ok(report.ok, JSON.stringify(report.violations));
  const cli = ledgerCheckCli(db.url);
  t.equal(cli.status, 0, `ledger:check exits 0: ${cli.output}`);
});
