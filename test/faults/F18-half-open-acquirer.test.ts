/**
 * F18 (docs/faults.md): an acquirer goes half-open (it reads everything and answers nothing, echoes included)
 * with requests in flight. Every acquirer here has a 1 s echo interval and a 20 s response timeout: the silent
 * connections are found dead within about the echo interval, far before the timeout. The requests in flight
 * take the timeout path (91, reversal queued to that acquirer); new ones fail over to another acquirer.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startTestSwitch, auth, rc, txnOf, eventually, ledgerOn, ROOT } from '../helpers/switch.js';

const ECHO_MS = 1_000;
// far beyond the echo interval, so "found dead by the echoes" and "timed out" stay apart on a loaded machine
const RESPONSE_MS = 20_000;

t.test('F18: a half-open acquirer with requests in flight', async (t) => {
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'f18-rules-'));
  t.teardown(() => rmSync(rulesDir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const file = path.join(rulesDir, 'acquirers.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as { acquirers: Array<{ link: { timeouts_ms: Record<string, number> } }> };
  for (const a of doc.acquirers) Object.assign(a.link.timeouts_ms, { echo_interval: ECHO_MS, response: RESPONSE_MS, slow: RESPONSE_MS });
  writeFileSync(file, stringifyYaml(doc));
  // One route for the test's EUR payments, by priority, not by weight: the probe and the three in flight all meet
  // acq-a (the one that goes silent), and a new payment fails over to acq-b once acq-a's link is found dead.
  // (The shipped rules split EUR 50/50 by a random draw, so 0 of 3 at the silent acquirer happened 1 time in 8.)
  const routingFile = path.join(rulesDir, 'routing.yaml');
  const routing = parseYaml(readFileSync(routingFile, 'utf8')) as { rules: Array<{ id: string; default?: boolean }> };
  routing.rules = [
    {
      id: 'f18-eur',
      when: { currency: ['978'] },
      then: {
        terminals: [
          { terminal: 'a-eur-1', priority: 1 },
          { terminal: 'b-eur-1', priority: 2 },
        ],
      },
    } as { id: string },
    ...routing.rules.filter((r) => r.default === true),
  ];
  writeFileSync(routingFile, stringifyYaml(routing));
  const s = await startTestSwitch(t, { overrides: { rulesDir, acquirerTimeoutMs: 0 } });
  const ledger = await ledgerOn(t, s.db.pool);

  const probe = auth({ amount: 1_800 });
  t.equal(rc(await s.client.send(probe)), '00');
  const silentId = (await txnOf(s.db.pool, probe))!.acquirer!;
  t.equal(silentId, 'acq-a', 'the probe took the first-priority route');
  const silent = s.sim(silentId);
  silent.startOutage(120_000, 'silent');

  const inFlight = [1, 2, 3].map((i) => auth({ amount: 1_800 + i }));
  const t0 = Date.now();
  const answers = await Promise.all(inFlight.map((m) => s.client.send(m).then((r) => ({ code: rc(r), ms: Date.now() - t0 }))));
  let atSilent = 0;
  for (const [i, req] of inFlight.entries()) {
    const row = (await txnOf(s.db.pool, req))!;
    t.equal(row.acquirer, silentId, 'in flight at the silent acquirer');
    if (row.acquirer !== silentId) continue;
    atSilent++;
    t.equal(answers[i]!.code, '91', `in flight at the silent acquirer: 91 after ${answers[i]!.ms} ms`);
    // a liveness bound: about one echo interval (1 s) here, ten times that on a loaded machine, half the response timeout
    t.ok(answers[i]!.ms < RESPONSE_MS / 2, `found dead well before the ${RESPONSE_MS} ms response timeout (echo interval ${ECHO_MS} ms)`);
    t.equal(row.state, 'timed_out', 'the timeout path');
    const { rows } = await s.db.pool.query<{ acquirer: string }>('select acquirer from switch_saf where txn_id = $1', [row.id]);
    t.same(
      rows.map((r) => r.acquirer),
      [silentId],
      'its reversal queued to the silent acquirer',
    );
    t.equal(await ledger.plan(row.id), undefined, 'nothing held');
  }
  t.equal(atSilent, 3, 'all 3 were at the silent acquirer');
  t.ok(s.h.acquirers.get(silentId).link.stats.halfOpen >= 1, 'the link counted a half-open connection');

  // new requests: failed over (the silent acquirer's connections are not ready: sign-on is not answered either)
  for (let i = 0; i < 3; i++) {
    const req = auth({ amount: 1_810 + i });
    t.equal(rc(await s.client.send(req)), '00', 'approved');
    t.not((await txnOf(s.db.pool, req))!.acquirer, silentId, 'by another acquirer');
  }

  silent.startOutage(0, 'silent');
  for (const req of inFlight) {
    const row = (await txnOf(s.db.pool, req))!;
    if (row.acquirer === silentId)
      await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'reversed', 'reversed once the acquirer answers again');
  }
  t.ok((await ledger.check()).ok);
});
