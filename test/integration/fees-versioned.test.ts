/**
 * Fees are a rule file (docs/ledger.md, "Fees"): fees.yaml is imported with the other rule files, each terminal's
 * fee_plan picks its price, a new version's fees apply to the next payment on a running switch without a restart,
 * a rollback brings the old ones back, and validation refuses a plan nobody prices or an override that names no
 * terminal of its acquirer.
 */
import t from 'tap';
import { loadRuleSet, ruleSetFromContent, RuleSetInvalidError } from '../../src/routing/rules-loader.js';
import { feeSchedule, type FeeScheduleDoc } from '../../src/ledger/fees.js';
import { startTestSwitch, auth, rc, txnOf, ledgerOn, shippedFee, eventually } from '../helpers/switch.js';

const shipped = loadRuleSet();

t.test('the shipped fees: a rule file, every fee_plan priced, the same fees the tests expect', async (t) => {
  t.ok(shipped.files.fees, 'fees.yaml is one of the rule files');
  const f = feeSchedule(shipped.files.fees, 'fees.yaml', shipped.files.terminals.terminals);
  for (const term of shipped.files.terminals.terminals) {
    for (const amount of [1n, 999n, 10_000n, 123_457n])
      t.equal(f.fee(term.acquirer, term.id, amount), shippedFee(term.acquirer, amount, term.id), `${term.id} ${amount}`);
  }
});

t.test("a terminal's fee_plan picks its price: the acquirer's, then everyone's", async (t) => {
  const doc: FeeScheduleDoc = {
    version: 1,
    rounding: 'half-up',
    default: { percent: '9', fixed: 0 },
    plans: { gold: { percent: '1', fixed: 0 } },
    acquirers: { x: { default: { percent: '5', fixed: 0 }, plans: { gold: { percent: '2', fixed: 0 } }, terminals: { t3: { percent: '3', fixed: 0 } } } },
  };
  const terms = [
    { id: 't1', acquirer: 'x', fee_plan: 'gold' },
    { id: 't2', acquirer: 'y', fee_plan: 'gold' },
    { id: 't3', acquirer: 'x', fee_plan: 'gold' },
    { id: 't4', acquirer: 'x', fee_plan: 'none' },
  ];
  const f = feeSchedule(doc, 'inline', terms);
  t.same(
    ['t1', 't2', 't3', 't4', 't5'].map((id) => f.fee(id === 't2' ? 'y' : 'x', id, 10_000n)),
    [200n, 100n, 300n, 500n, 500n],
    "x prices gold; y takes everyone's gold; t3's override wins; an unpriced plan or unknown terminal: the acquirer's default",
  );
});

t.test('validation refuses an unpriced fee plan and an override of no terminal of its acquirer', async (t) => {
  const files = JSON.parse(JSON.stringify(shipped.files)) as Record<string, any>;
  files.terminals.terminals[0].fee_plan = 'platinum';
  const problem = (content: unknown) => {
    try {
      ruleSetFromContent(content);
      return 'valid';
    } catch (e) {
      return e instanceof RuleSetInvalidError ? e.problems.map((p) => `${p.file} ${p.rule} ${p.path}: ${p.reason}`).join('; ') : String(e);
    }
  };
  t.match(problem(files), /^fees\.yaml terminal 'a-eur-1' \/plans: fee plan 'platinum' of terminal 'a-eur-1' is priced neither by acq-a nor in plans$/);
  const files2 = JSON.parse(JSON.stringify(shipped.files)) as Record<string, any>;
  files2.fees.acquirers['acq-b'].terminals = { 'a-eur-1': { percent: '1', fixed: 0 } };
  t.match(problem(files2), /fees\.yaml \(file\) \/acquirers\/acq-b\/terminals\/a-eur-1: terminal 'a-eur-1' belongs to acq-a/);
  const old = JSON.parse(JSON.stringify(shipped.files)) as Record<string, any>;
  delete old.fees;
  t.equal(problem(old), 'valid', 'a version stored before fees were a rule file stays valid (the switch then reads rules/fees.yaml)');
});

t.test('activated without a restart, audited in the version history, rolled back', async (t) => {
  const s = await startTestSwitch(t);
  const ledger = await ledgerOn(t, s.db.pool);
  const feeOf = async (amount: number) => {
    const m = auth({ mti: '0200', amount });
    t.equal(rc(await s.client.send(m)), '00');
    const row = (await txnOf(s.db.pool, m))!;
    return { plan: (await ledger.plan(row.id))!, row };
  };
  const before = await feeOf(10_000);
  t.equal(before.plan.fee, shippedFee(before.row.acquirer!, 10_000n, before.row.terminal!), 'v1: the shipped fees');

  const files = JSON.parse(JSON.stringify(s.h.watcher.current().ruleSet.files)) as Record<string, any>;
  // every acquirer charges a flat 77 whatever the plan
  files.fees.plans = Object.fromEntries(Object.keys(files.fees.plans).map((k) => [k, { percent: '0', fixed: 77 }]));
  for (const a of Object.values(files.fees.acquirers) as Array<Record<string, unknown>>) {
    delete a.plans;
    delete a.terminals;
    delete a.default;
  }
  const v2 = await s.h.versions.create(files, { author: 'rita', comment: 'flat fee' });
  await s.h.versions.activate(v2.version, { actor: 'rita', comment: 'flat fee' });
  await eventually(() => s.h.watcher.version === v2.version, 'v2 in use');
  t.equal((await feeOf(10_000)).plan.fee, 77n, 'v2: the next payment pays the new fee, no restart');
  const history = await s.h.versions.history(5);
  t.match(history[0], { version: v2.version, kind: 'activate', actor: 'rita' }, 'the activation is in the history');

  await s.h.versions.rollback({ actor: 'rita', comment: 'back' });
  await eventually(() => s.h.watcher.version === 1, 'v1 again');
  const after = await feeOf(10_000);
  t.equal(after.plan.fee, shippedFee(after.row.acquirer!, 10_000n, after.row.terminal!), 'rolled back: the shipped fees again');
  t.ok((await ledger.check()).ok);
});
