import t from 'tap';
import { mkdtempSync, writeFileSync, cpSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet, readRuleFiles, ruleSetFromContent, validateRuleFiles, RuleSetInvalidError, DEFAULT_RULES_DIR } from '../../src/routing/rules-loader.js';
import { isSwitchError } from '../../src/errors.js';

const base = (): Record<string, any> => JSON.parse(JSON.stringify(readRuleFiles(DEFAULT_RULES_DIR)));

t.test('the shipped rules validate and hash stably', async (t) => {
  const a = loadRuleSet();
  const b = ruleSetFromContent(base());
  t.equal(a.hash, b.hash);
  t.match(a.hash, /^[0-9a-f]{64}$/);
  t.equal(a.files.acquirers.acquirers.length, 3);
  t.same(
    a.files.acquirers.acquirers.map((x) => x.link.dialect),
    ['iso87-ascii', 'iso87-binary', 'iso87-ebcdic'],
  );
  t.ok(Object.isFrozen(a.files.routing.rules[0]), 'rule set is immutable');
  // Key order does not change the hash.
  const c = base();
  const r0 = c.routing.rules[1];
  c.routing.rules[1] = Object.fromEntries(Object.entries(r0).reverse());
  t.equal(ruleSetFromContent(c).hash, a.hash);
  c.routing.rules[1].then.terminals[0].priority = 5;
  t.not(ruleSetFromContent(c).hash, a.hash);
});

interface Case {
  name: string;
  edit: (f: Record<string, any>) => void;
  file: string;
  rule: string;
  path: string;
  reason: RegExp;
  code?: string;
}

const cases: Case[] = [
  {
    name: 'unknown key in a routing rule',
    edit: (f) => (f.routing.rules[2].when.colour = 'red'),
    file: 'routing.yaml',
    rule: "rule 'high-value-eur'",
    path: '/rules/2/when/colour',
    reason: /unknown key 'colour'/,
  },
  {
    name: 'negative weight',
    edit: (f) => (f.routing.rules[4].then.terminals[1].weight = -1),
    file: 'routing.yaml',
    rule: "rule 'eur-domestic-debit'",
    path: '/rules/4/then/terminals/1/weight',
    reason: />= 0/,
  },
  {
    name: 'action with both terminals and decline',
    edit: (f) => (f.routing.rules[1].then.decline = '05'),
    file: 'routing.yaml',
    rule: "rule 'amex'",
    path: '/rules/1/then',
    reason: /exactly one/,
  },
  {
    name: 'action with neither',
    edit: (f) => (f.routing.rules[1].then = { sticky: true }),
    file: 'routing.yaml',
    rule: "rule 'amex'",
    path: '/rules/1/then',
    reason: /terminals, decline/,
  },
  {
    name: 'rule naming an unknown terminal',
    edit: (f) => (f.routing.rules[3].then.terminals[0].terminal = 'zz-nope'),
    file: 'routing.yaml',
    rule: "rule 'transport'",
    path: '/rules/3/then/terminals/0/terminal',
    reason: /./,
    code: 'SW_ERR_RULES_REFERENCE',
  },
  {
    name: 'terminal naming an unknown acquirer',
    edit: (f) => (f.terminals.terminals[1].acquirer = 'acq-z'),
    file: 'terminals.yaml',
    rule: "terminal 'a-eur-2'",
    path: '/terminals/1/acquirer',
    reason: /./,
    code: 'SW_ERR_RULES_REFERENCE',
  },
  {
    name: 'DE41 of the wrong length',
    edit: (f) => (f.terminals.terminals[0].terminal_id = 'T1'),
    file: 'terminals.yaml',
    rule: "terminal 'a-eur-1'",
    path: '/terminals/0/terminal_id',
    reason: /pattern/,
  },
  {
    name: 'missing default rule',
    edit: (f) => f.routing.rules.pop(),
    file: 'routing.yaml',
    rule: "rule 'gbp'",
    path: '/rules',
    reason: /default rule/,
  },
  {
    name: 'default rule not last',
    edit: (f) => f.routing.rules.unshift({ id: 'early', default: true, then: { decline: '05' } }),
    file: 'routing.yaml',
    rule: "rule 'early'",
    path: '/rules/0/default',
    reason: /last rule/,
  },
  {
    name: 'default rule with conditions',
    edit: (f) => (f.routing.rules.at(-1).when = { currency: ['978'] }),
    file: 'routing.yaml',
    rule: "rule 'default'",
    path: '/rules/9/when',
    reason: /no conditions/,
  },
  {
    name: 'duplicate rule id',
    edit: (f) => (f.routing.rules[2].id = 'amex'),
    file: 'routing.yaml',
    rule: "rule 'amex'",
    path: '/rules/2/id',
    reason: /duplicate/,
  },
  {
    name: 'bin range reversed',
    edit: (f) => (f.bins.bins[6].range = ['55', '51']),
    file: 'bins.yaml',
    rule: 'bin #6',
    path: '/bins/6/range',
    reason: /above/,
  },
  {
    name: 'bin with both prefix and range',
    edit: (f) => (f.bins.bins[0].range = ['4', '4']),
    file: 'bins.yaml',
    rule: "bin '4'",
    path: '/bins/0',
    reason: /exactly one/,
  },
  {
    name: 'unknown dialect',
    edit: (f) => (f.acquirers.acquirers[2].link.dialect = 'iso93'),
    file: 'acquirers.yaml',
    rule: "acquirer 'acq-c'",
    path: '/acquirers/2/link/dialect',
    reason: /iso87-ebcdic/,
  },
  {
    name: 'detector slow limit above the response timeout',
    edit: (f) => (f.acquirers.acquirers[1].link.timeouts_ms.slow = 6000),
    file: 'acquirers.yaml',
    rule: "acquirer 'acq-b'",
    path: '/acquirers/1/link/timeouts_ms/slow',
    reason: /above the response timeout/,
  },
  {
    name: 'unknown risk level',
    edit: (f) => (f.risk.velocity[0].level = 'medium'),
    file: 'risk.yaml',
    rule: 'velocity #0',
    path: '/velocity/0/level',
    reason: /must be one of/,
  },
  {
    name: 'rule condition naming an unknown merchant',
    edit: (f) => (f.routing.rules[0].when.merchant = ['NOPE']),
    file: 'routing.yaml',
    rule: "rule 'block-test-games'",
    path: '/rules/0/when/merchant/0',
    reason: /./,
    code: 'SW_ERR_RULES_REFERENCE',
  },
  {
    name: 'amount min above max',
    edit: (f) => (f.routing.rules[2].when.amount = { min: 10, max: 5 }),
    file: 'routing.yaml',
    rule: "rule 'high-value-eur'",
    path: '/rules/2/when/amount',
    reason: /above max/,
  },
  {
    name: 'bad time of day',
    edit: (f) => (f.routing.rules[5].when.time.from = '25:00'),
    file: 'routing.yaml',
    rule: "rule 'night-eur'",
    path: '/rules/5/when/time/from',
    reason: /pattern/,
  },
  {
    name: 'numeric BIN prefix (YAML number)',
    edit: (f) => (f.bins.bins[1].prefix = 4111),
    file: 'bins.yaml',
    rule: 'bin #1',
    path: '/bins/1/prefix',
    reason: /string/,
  },
];

for (const c of cases) {
  t.test(`invalid: ${c.name}`, async (t) => {
    const f = base();
    c.edit(f);
    const problems = validateRuleFiles(f);
    t.ok(problems.length >= 1, 'has problems');
    const p = problems.find((x) => x.path === c.path);
    t.ok(p, `a problem at ${c.path}: ${JSON.stringify(problems)}`);
    if (p) {
      t.equal(p.file, c.file);
      t.equal(p.rule, c.rule);
      t.match(p.reason, c.reason);
    }
    const err = t.throws(() => ruleSetFromContent(f)) as unknown;
    t.ok(err instanceof RuleSetInvalidError);
    t.ok(isSwitchError(err, (c.code ?? 'SW_ERR_RULES_INVALID') as never), `code ${(err as { code?: string }).code}`);
    t.match((err as Error).message, c.file);
  });
}

t.test('files on disk: YAML errors and missing files name the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DEFAULT_RULES_DIR, dir, { recursive: true });
  t.ok(loadRuleSet(dir).hash);
  writeFileSync(join(dir, 'merchants.yaml'), 'merchants:\n  - id: a\n    id: b\n');
  const e1 = t.throws(() => loadRuleSet(dir)) as Error;
  t.match(e1.message, /merchants\.yaml/);
  t.match(e1.message, /line 3/);
  rmSync(join(dir, 'merchants.yaml'));
  const e2 = t.throws(() => loadRuleSet(dir)) as unknown;
  t.ok(isSwitchError(e2, 'SW_ERR_RULES_READ'));
  t.match((e2 as Error).message, /merchants\.yaml.*ENOENT/);
  writeFileSync(join(dir, 'merchants.yaml'), readFileSync(join(DEFAULT_RULES_DIR, 'merchants.yaml')));
  t.ok(loadRuleSet(dir));
});

t.test('content that is not an object is rejected', async (t) => {
  t.throws(() => ruleSetFromContent(null), RuleSetInvalidError);
  t.throws(() => ruleSetFromContent([]), RuleSetInvalidError);
  const f = base();
  f.extra = {};
  t.throws(() => ruleSetFromContent(f), /unknown rule file/);
});
