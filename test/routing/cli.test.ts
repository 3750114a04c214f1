import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync, cpSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runRulesCli, type CliIo } from '../../src/cli/rules.js';
import { backtest, seededRandom, type PastDecision } from '../../src/routing/backtest.js';
import { loadRuleSet, DEFAULT_RULES_DIR } from '../../src/routing/rules-loader.js';
import { compileRuleSet } from '../../src/routing/compiler.js';
import { select } from '../../src/routing/selector.js';
import type { AuthContext } from '../../src/routing/types.js';
import { testDb } from '../helpers/db.js';
import { childEnv } from '../helpers/node-args.js';

function io(env: NodeJS.ProcessEnv = {}, stdin = ''): CliIo & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return { outs, errs, out: (s) => void outs.push(s), err: (s) => void errs.push(s), stdin: () => stdin, env };
}

const AUTH = {
  bin: '40000012',
  cardToken: 'tok',
  amountMinor: 1000,
  currency: '978',
  merchantId: 'SHOP00000000001',
  psp: 'psp-alpha',
  at: '2026-01-07T12:00:00Z',
};

t.test('validate: ok, and problems naming file/rule/path with exit 1', async (t) => {
  const a = io();
  t.equal(await runRulesCli(['validate'], a), 0);
  t.match(JSON.parse(a.outs[0]!), { valid: true, hash: loadRuleSet().hash });
  const dir = mkdtempSync(join(tmpdir(), 'rules-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DEFAULT_RULES_DIR, dir, { recursive: true });
  writeFileSync(
    join(dir, 'routing.yaml'),
    readFileSync(join(dir, 'routing.yaml'), 'utf8').replace(
      'when: { brand: [amex] }\n    then:\n      terminals:\n        - { terminal: c-eur-1',
      'when: { brand: [amex] }\n    then:\n      terminals:\n        - { terminal: c-eur-9',
    ),
  );
  const b = io();
  t.equal(await runRulesCli(['validate', '--dir', dir], b), 1);
  t.match(b.errs.join('\n'), /routing\.yaml: rule 'amex' at \/rules\/1\/then\/terminals\/0\/terminal: unknown terminal 'c-eur-9'/);
  await t.rejects(runRulesCli(['nope'], io()), { code: 'SW_ERR_CLI_USAGE' });
  await t.rejects(runRulesCli(['backtest'], io()), { code: 'SW_ERR_CLI_USAGE' });
});

t.test('evaluate: authorization JSON in, decision and explanation out (stdin, file, array)', async (t) => {
  const a = io({}, JSON.stringify(AUTH));
  t.equal(await runRulesCli(['evaluate'], a), 0);
  const d = JSON.parse(a.outs[0]!);
  t.equal(d.kind, 'route');
  t.equal(d.explanation.ruleId, 'eur-domestic-debit');
  t.equal(d.explanation.risk.level, 'trusted');
  const dir = mkdtempSync(join(tmpdir(), 'rules-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'auth.json');
  writeFileSync(f, JSON.stringify([AUTH, { ...AUTH, merchantId: 'SHOP00000000006', psp: 'psp-gamma', amountMinor: '5' }]));
  const b = io();
  t.equal(await runRulesCli(['evaluate', '--file', f], b), 0);
  const ds = JSON.parse(b.outs[0]!);
  t.equal(ds.length, 2);
  t.same([ds[1].kind, ds[1].code], ['decline', '57']);
  const c = io({}, JSON.stringify({ ...AUTH, bin: '4111111111111111' }));
  await t.rejects(runRulesCli(['evaluate'], c), { code: 'SW_ERR_ROUTING_BAD_CONTEXT' });
  await t.rejects(runRulesCli(['evaluate'], io({}, '{"bin":')), { code: 'SW_ERR_ROUTING_BAD_CONTEXT' });
  await t.rejects(runRulesCli(['evaluate'], io({}, JSON.stringify({ ...AUTH, extra: 1 }))), /extra/);
});

/** Past traffic decided under the shipped rules, with per-terminal approval rates. */
function history(n: number): PastDecision[] {
  const base = compileRuleSet(loadRuleSet());
  const rnd = seededRandom(7);
  const random = seededRandom(1);
  const approve: Record<string, number> = { 'a-eur-1': 0.8, 'b-eur-1': 0.95, 'a-eur-2': 0.9, 'c-eur-1': 0.9 };
  const out: PastDecision[] = [];
  for (let i = 0; i < n; i++) {
    const context: AuthContext = {
      bin: i % 2 ? '41111111' : '40000012',
      cardToken: `card-${i}`,
      amountMinor: 1000 + (i % 50),
      currency: '978',
      merchantId: 'SHOP00000000004',
      psp: 'psp-alpha',
      at: new Date(Date.UTC(2026, 0, 7, 12, 0, 0, i * 1000)),
    };
    const d = select(base, context, { level: 'low', reasons: [] }, { random });
    const routedTo = d.kind === 'route' ? d.routes[0]!.terminal : null;
    out.push({ context, routedTo, outcome: routedTo && rnd() < (approve[routedTo] ?? 0.9) ? 'approved' : 'declined', riskLevel: 'low' });
  }
  return out;
}

t.test('backtest: unchanged under the same rules; a candidate moving traffic shows transitions and the approval effect', async (t) => {
  const past = history(2000);
  const same = await backtest(compileRuleSet(loadRuleSet()), past);
  t.equal(same.total, 2000);
  t.equal(same.changed, 0, 'same rules, same seed: nothing changes');
  t.equal(same.approvalRateDelta, 0);

  // Candidate: the 'eur' rule sends everything to b-eur-1 (observed approval 95% vs 80% on a-eur-1).
  const dir = mkdtempSync(join(tmpdir(), 'rules-bt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DEFAULT_RULES_DIR, dir, { recursive: true });
  const routing = readFileSync(join(dir, 'routing.yaml'), 'utf8').replace(
    '- { terminal: a-eur-1, priority: 1, weight: 50 }\n        - { terminal: b-eur-1, priority: 1, weight: 50 }',
    '- { terminal: a-eur-1, priority: 1, weight: 0 }\n        - { terminal: b-eur-1, priority: 1, weight: 50 }',
  );
  writeFileSync(join(dir, 'routing.yaml'), routing);
  const r = await backtest(compileRuleSet(loadRuleSet(dir)), past);
  const fromA = past.filter((p) => p.routedTo === 'a-eur-1').length;
  t.ok(fromA > 300, `a-eur-1 had ${fromA}`);
  t.equal(r.changed, fromA, 'exactly the a-eur-1 traffic moves');
  t.same(r.transitions, [{ from: 'a-eur-1', to: 'b-eur-1', count: fromA }]);
  t.ok(r.approvalRateDelta > 0.03, `expected effect +${(100 * r.approvalRateDelta).toFixed(2)} pts`);
  // the moved traffic is expected at b-eur-1's observed approval rate, the rest as it went
  const approved = (f: (p: PastDecision) => boolean) => past.filter((p) => f(p) && p.outcome === 'approved').length;
  const onB = past.filter((p) => p.routedTo === 'b-eur-1').length;
  const want = (approved((p) => p.routedTo !== 'a-eur-1') + (fromA * approved((p) => p.routedTo === 'b-eur-1')) / onB) / past.length;
  t.ok(Math.abs(r.expectedApprovalRate - want) < 1e-12, `expected approval rate ${r.expectedApprovalRate.toFixed(4)} = ${want.toFixed(4)}`);

  // Through the CLI with a JSON-lines file and --limit.
  const f = join(dir, 'past.jsonl');
  writeFileSync(f, past.map((p) => JSON.stringify({ ...p, context: { ...p.context, at: p.context.at.toISOString() } })).join('\n'));
  const a = io();
  t.equal(await runRulesCli(['backtest', '--input', f, '--dir', dir, '--limit', '500'], a), 0);
  const out = JSON.parse(a.outs.at(-1)!);
  t.equal(out.total, 500);
  t.match(a.errs.join('\n'), /routes changed: \d+/);
  t.match(a.errs.join('\n'), /approval rate: baseline/);
});

t.test('publish, activate, versions, rollback against Postgres (DATABASE_URL)', async (t) => {
  const db = await testDb(t);
  const env = { DATABASE_URL: db.url };
  const p = io(env);
  t.equal(await runRulesCli(['publish', '--author', 'alice', '--comment', 'first'], p), 0);
  const v = JSON.parse(p.outs[0]!);
  t.match(v, { version: 1, created: true, author: 'alice' });
  t.equal(await runRulesCli(['activate', String(v.version), '--actor', 'alice'], io(env)), 0);
  const l = io(env);
  t.equal(await runRulesCli(['versions'], l), 0);
  t.match(JSON.parse(l.outs[0]!), { active: { version: 1 }, versions: [{ version: 1 }] });
  const e = io(env, JSON.stringify(AUTH));
  t.equal(await runRulesCli(['evaluate', '--version', '1'], e), 0);
  t.equal(JSON.parse(e.outs[0]!).explanation.rulesVersion, 1);
  await t.rejects(runRulesCli(['rollback', '--actor', 'bob'], io(env)), { code: 'SW_ERR_RULES_VERSION_NOT_FOUND' });
  await t.rejects(runRulesCli(['versions'], io({})), { code: 'SW_ERR_CLI_USAGE' });
});

t.test('the npm script runs as a process with exit codes', async (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/rules.ts', 'validate'], { encoding: 'utf8', env: childEnv() });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /"valid": true/);
  const u = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/rules.ts', 'frob'], { encoding: 'utf8', env: childEnv() });
  t.equal(u.status, 2);
  t.match(u.stderr, /SW_ERR_CLI_USAGE/);
});
