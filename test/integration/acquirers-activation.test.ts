/**
 * Acquirers on activation (docs/switch.md, "Acquirers on activation"): a rules version that changes
 * acquirers.yaml takes effect on every running instance without a restart. A new acquirer connects before the
 * rules route to it; a changed host and port gets a new link and the old one retires; a changed response-code
 * map applies on the same link; a removed acquirer finishes what it has in flight, then signs off and closes.
 */
import t from 'tap';
import { registry } from '../../src/metrics/index.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { framerByName } from '../../src/wire/index.js';
import { activateFiles, activeFiles, startTestSwitch, auth, rc, txnOf, eventually, setRules, ledgerOn, type TestSwitch } from '../helpers/switch.js';

type Files = Record<string, any>;

/** A first rule sending exactly `amount` to `terminal`. */
function routeAmount(files: Files, amount: number, terminal: string): void {
  files.routing.rules.unshift({ id: `amount-${amount}`, when: { amount: { min: amount, max: amount } }, then: { terminals: [{ terminal, priority: 1 }] } });
}

async function changes(acquirer: string, change: string): Promise<number> {
  const m = await registry.getSingleMetric('switch_acquirer_changes_total')!.get();
  return m.values.find((v) => v.labels.acquirer === acquirer && v.labels.change === change)?.value ?? 0;
}

t.test('a new acquirer connects on every instance and the rules route to it, no restart', async (t) => {
  const s1 = await startTestSwitch(t);
  const s2 = await startTestSwitch(t, { db: s1.db });
  const files = activeFiles(s1);
  files.acquirers.acquirers.push({
    id: 'acq-d',
    name: 'Acquirer D (added at run time)',
    link: { host: '127.0.0.1', port: 0, dialect: 'iso87-ascii', framer: 'ascii4', connections: 1, timeouts_ms: { connect: 2000, response: 5000 } },
    simulator: { latency_ms: 1, jitter_ms: 0, approve_rate: 1, decline_code: '05' },
  });
  files.terminals.terminals.push({
    id: 'd-eur-1',
    acquirer: 'acq-d',
    terminal_id: 'TD000001',
    merchant_id: 'MD0000000000001',
    currencies: ['978'],
    limits: { min_minor: 1, max_minor: 1_000_000 },
    fee_plan: 'standard',
    three_ds: true,
    risk_coverage: 'high',
  });
  routeAmount(files, 4242, 'd-eur-1');
  const added = await changes('acq-d', 'added');
  const t0 = performance.now();
  const v = await activateFiles(s1, files, 'add acq-d');
  const ready = (s: TestSwitch) => s.h.watcher.version === v && (s.h.acquirers.find('acq-d')?.link.readyCount ?? 0) > 0;
  await eventually(() => ready(s1) && ready(s2), 'acq-d signed on at both instances');
  t.comment(`activation to acq-d signed on at both instances: ${(performance.now() - t0).toFixed(0)} ms`);
  for (const s of [s1, s2]) {
    const m = auth({ amount: 4242 });
    t.equal(rc(await s.client.send(m)), '00', 'approved through the new acquirer');
    t.match(await txnOf(s.db.pool, m), { acquirer: 'acq-d', terminal: 'd-eur-1' });
    t.equal(s.sim('acq-d').journal.count({ direction: 'in', mti: '0100', terminal: 'TD000001' }), 1, "in this instance's acq-d simulator");
  }
  t.equal(await changes('acq-d', 'added'), added + 2, 'switch_acquirer_changes_total counts the addition at each instance');
  const board = s1.h.acquirers.all().map((a) => a.def.id);
  t.same(board, ['acq-a', 'acq-b', 'acq-c', 'acq-d']);
});

t.test('a changed host and port: a new link to the new endpoint, the old one signs off and closes', async (t) => {
  const s = await startTestSwitch(t);
  const def = s.h.acquirers.get('acq-b').def;
  const moved = await startAcquirerSimulator({
    dialect: def.link.dialect,
    framer: framerByName(def.link.framer),
    control: false,
    behaviour: { defaultResponseCode: '00' },
  });
  t.teardown(() => moved.close());
  const old = s.sim('acq-b');
  const oldLink = s.h.acquirers.get('acq-b').link;
  const files = activeFiles(s);
  const b = files.acquirers.acquirers.find((a: Files) => a.id === 'acq-b');
  b.link.port = moved.port;
  delete b.simulator;
  routeAmount(files, 4343, 'b-eur-1');
  const v = await activateFiles(s, files, 'acq-b moved');
  await eventually(() => s.h.watcher.version === v, 'v2 in use');
  const m = auth({ amount: 4343 });
  t.equal(rc(await s.client.send(m)), '00');
  t.equal(moved.journal.count({ direction: 'in', mti: '0100' }), 1, 'the request went to the new endpoint');
  t.equal(old.journal.count({ direction: 'in', mti: '0100' }), 0, 'not to the old one');
  await s.h.acquirers.retired();
  t.not(s.h.acquirers.get('acq-b').link, oldLink, 'a new link');
  t.equal(oldLink.readyCount, 0, 'the old link is closed');
  t.ok(
    old.journal.count({ direction: 'in', mti: '0800' }) > 0 && old.journal.find({ direction: 'in', mti: '0800' }).some((e) => e.networkCode === '002'),
    'it signed off (0800 DE70 002)',
  );
});

t.test('a changed response-code map applies at once, on the same link', async (t) => {
  const s = await startTestSwitch(t);
  const link = s.h.acquirers.get('acq-a').link;
  setRules(s.sim('acq-a'), [{ when: { amountMin: 4545, amountMax: 4545 }, respond: 'N7' }]);
  const files = activeFiles(s);
  routeAmount(files, 4545, 'a-eur-1');
  const v2 = await activateFiles(s, files, 'route 4545 to acq-a');
  await eventually(() => s.h.watcher.version === v2, 'v2 in use');
  t.equal(rc(await s.client.send(auth({ amount: 4545 }))), '05', 'N7 maps to 05 (the shipped map)');
  files.acquirers.acquirers.find((a: Files) => a.id === 'acq-a').response_codes = { N7: '62' };
  const v3 = await activateFiles(s, files, 'N7 is a restricted card');
  await eventually(() => s.h.watcher.version === v3, 'v3 in use');
  t.equal(rc(await s.client.send(auth({ amount: 4545 }))), '62', 'N7 maps to 62 now');
  t.equal(s.h.acquirers.get('acq-a').link, link, 'the same link: nothing it is built from changed');
});

t.test('a removed acquirer finishes its request in flight, then signs off and closes', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3000 } });
  const ledger = await ledgerOn(t, s.db.pool);
  const sim = s.sim('acq-c');
  setRules(sim, [{ when: { amountMin: 4646, amountMax: 4646 }, respond: '00', delayMs: 600 }]);
  const files = activeFiles(s);
  routeAmount(files, 4646, 'c-eur-1');
  const v2 = await activateFiles(s, files, 'route 4646 to acq-c');
  await eventually(() => s.h.watcher.version === v2, 'v2 in use');
  const m = auth({ amount: 4646 });
  const answer = s.client.send(m);
  await eventually(() => sim.journal.count({ direction: 'in', mti: '0100' }) === 1, 'the request is at acq-c');

  // v3: acq-c, its terminals and every route to them gone
  const gone = new Set(files.terminals.terminals.filter((x: Files) => x.acquirer === 'acq-c').map((x: Files) => x.id as string));
  files.acquirers.acquirers = files.acquirers.acquirers.filter((a: Files) => a.id !== 'acq-c');
  files.terminals.terminals = files.terminals.terminals.filter((x: Files) => !gone.has(x.id));
  for (const r of files.routing.rules) if (r.then.terminals) r.then.terminals = r.then.terminals.filter((x: Files) => !gone.has(x.terminal));
  files.routing.rules = files.routing.rules.filter((r: Files) => r.default || !r.then.terminals || r.then.terminals.length > 0);
  files.routing.rules.at(-1).then.terminals = [{ terminal: 'a-eur-1', priority: 1 }];
  delete files.fees.acquirers['acq-c'];
  const v3 = await activateFiles(s, files, 'acq-c leaves');
  await eventually(() => s.h.watcher.version === v3 && s.h.acquirers.find('acq-c') === undefined, 'acq-c out of the set');
  t.equal(sim.journal.count({ direction: 'out', mti: '0110' }), 0, 'still in flight when acq-c left the set');
  t.equal(rc(await answer), '00', 'the request in flight was answered: approved');
  await s.h.acquirers.retired();
  t.ok(
    sim.journal.find({ direction: 'in', mti: '0800' }).some((e) => e.networkCode === '002'),
    'then it signed off',
  );
  t.match(await txnOf(s.db.pool, m), { acquirer: 'acq-c', state: 'approved' }, 'the approval is on record');
  t.equal(rc(await s.client.send(auth({ amount: 4646 }))), '00', 'the next one goes elsewhere');
  t.ok((await ledger.check()).ok, 'ledger:check');
});

t.test('a change that cannot be built keeps the old link and is counted as failed', async (t) => {
  const s = await startTestSwitch(t);
  const link = s.h.acquirers.get('acq-a').link;
  const failed = await changes('acq-a', 'failed');
  const files = activeFiles(s);
  const a = files.acquirers.acquirers.find((x: Files) => x.id === 'acq-a');
  a.link.port = 1; // off the built-in simulator, onto TLS with a CA file that is not there
  a.link.tls = { ca: '/nonexistent/acq-a-ca.pem' };
  const v = await activateFiles(s, files, 'acq-a over TLS, CA missing');
  await eventually(() => s.h.watcher.version === v, 'v2 in use');
  await eventually(async () => (await changes('acq-a', 'failed')) === failed + 1, 'counted as failed');
  t.equal(s.h.acquirers.get('acq-a').link, link, 'the old link stays');
  t.ok(link.readyCount > 0, 'and serves');
  t.equal(rc(await s.client.send(auth({ mti: '0200', amount: 1000 }))), '00', 'payments go on');
});
