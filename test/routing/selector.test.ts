import t from 'tap';
import { select, type HealthView } from '../../src/routing/selector.js';
import type { AuthContext, Decision, RiskResult, RuleConditions } from '../../src/routing/types.js';
import { fixture, ctx } from './fixtures/rules.js';

const LOW: RiskResult = { level: 'low', reasons: [] };
const routeOf = (d: Decision): string[] => (d.kind === 'route' ? d.routes.map((r) => r.terminal) : [`decline:${d.code}`]);

interface CondCase {
  name: string;
  when: RuleConditions;
  yes: Partial<AuthContext>[];
  no: Partial<AuthContext>[];
}

const condCases: CondCase[] = [
  { name: 'amount min', when: { amount: { min: 1000 } }, yes: [{ amountMinor: 1000 }, { amountMinor: 5000n }], no: [{ amountMinor: 999 }] },
  { name: 'amount max', when: { amount: { max: 1000 } }, yes: [{ amountMinor: 1000 }, { amountMinor: 0 }], no: [{ amountMinor: 1001n }] },
  {
    name: 'amount range',
    when: { amount: { min: 10, max: 20 } },
    yes: [{ amountMinor: 10 }, { amountMinor: 20 }],
    no: [{ amountMinor: 9 }, { amountMinor: 21 }],
  },
  { name: 'currency', when: { currency: ['840', '826'] }, yes: [{ currency: '840' }, { currency: '826' }], no: [{ currency: '978' }] },
  { name: 'brand', when: { brand: ['mastercard'] }, yes: [{ bin: '51234567' }, { bin: '555555' }], no: [{ bin: '40000012' }, { bin: '99999999' }] },
  { name: 'bin prefix', when: { bin_prefix: ['4000', '6011'] }, yes: [{ bin: '40001234' }, { bin: '601100' }], no: [{ bin: '41000000' }, { bin: '' }] },
  {
    name: 'bin range',
    when: { bin_range: [['400000', '400099']] },
    yes: [{ bin: '40000000' }, { bin: '40009999' }],
    no: [{ bin: '40010000' }, { bin: '3999' }],
  },
  { name: 'issuer country', when: { issuer_country: ['DE'] }, yes: [{ bin: '40001234' }], no: [{ bin: '41111111' }, { bin: '0000' }] },
  { name: 'card type', when: { card_type: ['debit', 'prepaid'] }, yes: [{ bin: '40001234' }, { bin: '60110000' }], no: [{ bin: '52000000' }] },
  {
    name: 'mcc (explicit and from merchant)',
    when: { mcc: ['4121'] },
    yes: [{ mcc: '4121' }, { merchantId: 'SHOP2' }],
    no: [{ mcc: '5411' }, { merchantId: 'SHOP1' }, { merchantId: 'UNKNOWN' }],
  },
  { name: 'merchant', when: { merchant: ['SHOP2'] }, yes: [{ merchantId: 'SHOP2' }], no: [{ merchantId: 'SHOP1' }] },
  { name: 'psp', when: { psp: ['psp2'] }, yes: [{ psp: 'psp2' }], no: [{ psp: 'psp1' }] },
  {
    name: 'kind (transaction type; none given is a purchase)',
    when: { kind: ['refund', 'balance'] },
    yes: [{ kind: 'refund' }, { kind: 'balance' }],
    no: [{ kind: 'purchase' }, { kind: 'cashback' }, {}],
  },
  {
    name: 'time of day',
    when: { time: { from: '09:00', to: '17:00' } },
    yes: [{ at: new Date('2026-01-07T09:00:00Z') }, { at: new Date('2026-01-07T16:59:59Z') }],
    no: [{ at: new Date('2026-01-07T17:00:00Z') }, { at: new Date('2026-01-07T08:59:00Z') }],
  },
  {
    name: 'time with offset, wrapping midnight, weekdays',
    when: { time: { from: '22:00', to: '06:00', utc_offset: '+02:00', days: ['fri'] } },
    // Friday 2026-01-09 22:30 local = 20:30Z; Saturday 05:00 local = Fri 03:00Z... (belongs to Friday's window)
    yes: [{ at: new Date('2026-01-09T20:30:00Z') }, { at: new Date('2026-01-10T03:00:00Z') }],
    no: [{ at: new Date('2026-01-08T20:30:00Z') }, { at: new Date('2026-01-09T03:00:00Z') }, { at: new Date('2026-01-09T12:00:00Z') }],
  },
  {
    name: '3-D Secure result',
    when: { three_ds: ['authenticated', 'attempted'] },
    yes: [
      { authentication: { entryMode: 'ecommerce', eci: '05', threeDs: 'authenticated' } },
      { authentication: { entryMode: 'ecommerce', eci: '01', threeDs: 'attempted' } },
    ],
    no: [{ authentication: { entryMode: 'ecommerce', eci: '07', threeDs: 'not_authenticated' } }, {}],
  },
  {
    name: 'entry mode',
    when: { entry_mode: ['chip', 'contactless'] },
    yes: [{ authentication: { entryMode: 'chip', eci: null, threeDs: 'not_applicable' } }],
    no: [{ authentication: { entryMode: 'ecommerce', eci: null, threeDs: 'not_authenticated' } }, {}],
  },
  {
    name: 'ECI',
    when: { eci: ['05', '02'] },
    yes: [{ authentication: { entryMode: 'ecommerce', eci: '02', threeDs: 'authenticated' } }],
    no: [
      { authentication: { entryMode: 'ecommerce', eci: '06', threeDs: 'attempted' } },
      { authentication: { entryMode: 'chip', eci: null, threeDs: 'not_applicable' } },
      {},
    ],
  },
  {
    name: 'metadata',
    when: { metadata: { channel: ['ecom', 'moto'], recurring: 'yes' } },
    yes: [{ metadata: { channel: 'ecom', recurring: 'yes' } }, { metadata: { channel: 'moto', recurring: 'yes', x: 'y' } }],
    no: [{ metadata: { channel: 'pos', recurring: 'yes' } }, { metadata: { channel: 'ecom' } }, {}],
  },
];

t.test('every condition matches and does not match', async (t) => {
  for (const c of condCases) {
    const rules = fixture([{ id: 'r', when: c.when, then: { terminals: [{ terminal: 't5', priority: 1 }] } }]);
    for (const y of c.yes)
      t.equal(select(rules, ctx(y), LOW).explanation.ruleId, 'r', `${c.name}: match ${JSON.stringify(y, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    for (const n of c.no)
      t.equal(
        select(rules, ctx(n), LOW).explanation.ruleId,
        'default',
        `${c.name}: no match ${JSON.stringify(n, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
      );
  }
});

t.test('conditions combine with AND; unless excludes; first match wins', async (t) => {
  const rules = fixture([
    { id: 'both', when: { currency: ['840'], psp: ['psp2'] }, then: { terminals: [{ terminal: 't5', priority: 1 }] } },
    { id: 'usd-not-mc', when: { currency: ['840'] }, unless: { brand: ['mastercard'] }, then: { terminals: [{ terminal: 't1', priority: 1 }] } },
    { id: 'usd', when: { currency: ['840'] }, then: { terminals: [{ terminal: 't5', priority: 1 }] } },
    { id: 'usd-shadowed', when: { currency: ['840'] }, then: { decline: '05' } },
  ]);
  t.equal(select(rules, ctx({ currency: '840', psp: 'psp2' }), LOW).explanation.ruleId, 'both');
  t.equal(select(rules, ctx({ currency: '840' }), LOW).explanation.ruleId, 'usd-not-mc');
  t.equal(select(rules, ctx({ currency: '840', bin: '52000000' }), LOW).explanation.ruleId, 'usd');
  t.equal(select(rules, ctx({ currency: '826' }), LOW).explanation.ruleId, 'default');
});

t.test('actions: decline with a code, route to ordered candidates, no-route code', async (t) => {
  const rules = fixture(
    [
      { id: 'block', when: { merchant: ['SHOP2'] }, then: { decline: '57', reason: 'not allowed' } },
      {
        id: 'prio',
        when: { psp: ['psp1'], currency: ['978'] },
        then: {
          terminals: [
            { terminal: 't5', priority: 2 },
            { terminal: 't1', priority: 1 },
          ],
        },
      },
      { id: 'none', when: { psp: ['psp9'] }, then: { terminals: [{ terminal: 't3', priority: 1 }] } },
    ],
    (f) => (f.routing.no_route_decline_code = '92'),
  );
  const d1 = select(rules, ctx({ merchantId: 'SHOP2' }), LOW);
  t.equal(d1.kind, 'decline');
  if (d1.kind === 'decline') {
    t.equal(d1.code, '57');
    t.equal(d1.reason, 'not allowed');
  }
  const d2 = select(rules, ctx(), LOW);
  t.same(routeOf(d2), ['t1', 't5']);
  if (d2.kind === 'route') t.same(d2.routes[0], { terminal: 't1', acquirer: 'acq-a', terminalId: 'T0000001', merchantId: 'M00000000000001' });
  const d3 = select(rules, ctx({ psp: 'psp9', amountMinor: 5 }), LOW);
  t.same(routeOf(d3), ['decline:92']);
  t.same(d3.explanation.rejected, [{ terminal: 't3', reason: 'amount_below_min', detail: '500' }]);
});

t.test('terminal terms: currency, MCC, limits, disabled, risk coverage', async (t) => {
  const rules = fixture([
    { id: 'all', when: { psp: ['psp1'] }, then: { terminals: ['t1', 't2', 't3', 't4', 't5'].map((x) => ({ terminal: x, priority: 1, weight: 1 })) } },
  ]);
  const reasons = (c: Partial<AuthContext>, risk: RiskResult = LOW): Record<string, string> =>
    Object.fromEntries(select(rules, ctx(c), risk).explanation.rejected.map((r) => [r.terminal, r.reason]));
  t.same(reasons({}), { t4: 'disabled' });
  t.same(reasons({ currency: '840' }), { t2: 'currency', t4: 'disabled' });
  t.same(reasons({ mcc: '5812' }), { t2: 'mcc', t4: 'disabled' });
  t.same(reasons({ amountMinor: 1001 }), { t3: 'amount_above_max', t4: 'disabled' });
  t.same(reasons({ amountMinor: 499 }), { t3: 'amount_below_min', t4: 'disabled' });
  t.same(reasons({ amountMinor: 0, kind: 'balance' }), { t4: 'disabled' }, 'a balance inquiry moves no money: no minimum applies');
  t.same(reasons({ amountMinor: 0, kind: 'refund' }), { t1: 'amount_below_min', t3: 'amount_below_min', t4: 'disabled' }, 'a refund keeps the limits');
  t.same(reasons({ amountMinor: 100001 }), { t1: 'amount_above_max', t2: 'amount_above_max', t3: 'amount_above_max', t4: 'disabled', t5: 'amount_above_max' });
  // Risk coverage: low covers trusted+low, high covers up to high.
  t.same(reasons({}, { level: 'trusted', reasons: [] }), { t4: 'disabled' });
  t.same(reasons({}, { level: 'high', reasons: ['x'] }), { t2: 'risk_coverage', t3: 'risk_coverage', t4: 'disabled' });
  const d = select(rules, ctx(), { level: 'high', reasons: ['amount'] });
  t.same(routeOf(d).sort(), ['t1', 't5']);
});

t.test('fatal risk declines before routing with the configured code', async (t) => {
  const rules = fixture([], (f) => (f.risk.fatal_decline_code = '59'));
  const d = select(rules, ctx(), { level: 'fatal', reasons: ['blocked_bin'] });
  t.equal(d.kind, 'decline');
  if (d.kind === 'decline') {
    t.equal(d.code, '59');
    t.match(d.reason, /blocked_bin/);
  }
  t.equal(d.explanation.ruleId, null, 'no rule was evaluated');
});

t.test('weights split traffic within tolerance over 10,000 draws', async (t) => {
  const rules = fixture([
    {
      id: 'split',
      when: { psp: ['psp1'] },
      then: {
        terminals: [
          { terminal: 't1', priority: 1, weight: 70 },
          { terminal: 't5', priority: 1, weight: 20 },
          { terminal: 't-default', priority: 1, weight: 10 },
          { terminal: 't3', priority: 1, weight: 0 },
        ],
      },
    },
  ]);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 10_000; i++) {
    const d = select(rules, ctx({ cardToken: `tok-${i}` }), LOW);
    const first = routeOf(d)[0]!;
    counts[first] = (counts[first] ?? 0) + 1;
  }
  t.ok(Math.abs(counts.t1! - 7000) < 300, `t1 ${counts.t1}`);
  t.ok(Math.abs(counts.t5! - 2000) < 250, `t5 ${counts.t5}`);
  t.ok(Math.abs(counts['t-default']! - 1000) < 200, `t-default ${counts['t-default']}`);
  t.equal(counts.t3 ?? 0, 0, 'weight 0 never wins the lottery');
});

t.test('sticky pins: same token, same terminal; tokens spread by weight; dead pin moves', async (t) => {
  const rules = fixture([
    {
      id: 'pin',
      when: { psp: ['psp1'] },
      then: {
        sticky: true,
        terminals: [
          { terminal: 't1', priority: 1, weight: 3 },
          { terminal: 't5', priority: 1, weight: 1 },
          { terminal: 't-default', priority: 2 },
        ],
      },
    },
  ]);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 4000; i++) {
    const c = ctx({ cardToken: `card-${i}` });
    const first = routeOf(select(rules, c, LOW))[0]!;
    for (let k = 0; k < 3; k++) t.equal(routeOf(select(rules, c, LOW))[0], first, `sticky (${k + 1} of 3)`);
    counts[first] = (counts[first] ?? 0) + 1;
    if (i > 50) break; // the per-token repeat check is enough for a sample
  }
  for (let i = 51; i < 4000; i++) {
    const first = routeOf(select(rules, ctx({ cardToken: `card-${i}` }), LOW))[0]!;
    counts[first] = (counts[first] ?? 0) + 1;
  }
  t.ok(Math.abs(counts.t1! - 3000) < 200, `t1 ${counts.t1}`);
  t.ok(Math.abs(counts.t5! - 1000) < 200, `t5 ${counts.t5}`);
  const d = select(rules, ctx({ cardToken: 'card-7' }), LOW);
  t.ok(d.explanation.candidates[0]!.pinned);
  // When the pinned terminal dies, only its tokens move.
  const deadT1: HealthView = { isAlive: (id) => id !== 't1', failureScore: (id) => (id === 't1' ? 1 : 0), tryProbe: () => false };
  let moved = 0;
  let stayed = 0;
  for (let i = 0; i < 300; i++) {
    const c = ctx({ cardToken: `card-${i}` });
    const before = routeOf(select(rules, c, LOW))[0];
    const after = routeOf(select(rules, c, LOW, { health: deadT1 }))[0];
    if (before === 't1') {
      t.equal(after, 't5');
      moved++;
    } else {
      t.equal(after, before);
      stayed++;
    }
  }
  t.ok(moved > 0 && stayed > 0);
});

t.test('health: dead routes go last, breakers open are skipped, all-dead is a last resort, ideal route', async (t) => {
  const rules = fixture([
    {
      id: 'r',
      when: { psp: ['psp1'] },
      then: {
        terminals: [
          { terminal: 't1', priority: 1 },
          { terminal: 't5', priority: 2 },
          { terminal: 't-default', priority: 3 },
        ],
      },
    },
  ]);
  const health = (dead: string[], score: Record<string, number> = {}): HealthView => ({
    isAlive: (id) => !dead.includes(id),
    failureScore: (id) => score[id] ?? (dead.includes(id) ? 1 : 0),
    tryProbe: () => false,
  });
  let d = select(rules, ctx(), LOW, { health: health(['acq-a']) });
  t.same(routeOf(d), ['t5', 't1', 't-default'], 'acquirer dead: both its terminals go after the live one, not away');
  t.equal(d.explanation.ideal, 't1');
  t.same(d.explanation.rejected, [], 'a dead route is not a rejection');
  t.same(
    d.explanation.candidates.map((e) => [e.terminal, e.alive]),
    [
      ['t5', true],
      ['t1', false],
      ['t-default', false],
    ],
  );
  t.notOk(d.explanation.allDead);
  d = select(rules, ctx(), LOW, { health: health(['t1']) });
  t.same(routeOf(d), ['t5', 't-default', 't1']);
  d = select(rules, ctx(), LOW, { health: health(['t1', 't-default'], { t1: 0.6, 't-default': 0.9 }) });
  t.same(routeOf(d), ['t5', 't1', 't-default'], 'the dead tail: least failing first, whatever the priority');
  d = select(rules, ctx(), LOW, { breakers: { isOpen: (a) => a === 'acq-c' } });
  t.same(routeOf(d), ['t1', 't-default']);
  t.same(d.explanation.rejected, [{ terminal: 't5', reason: 'breaker_open', detail: 'acq-c' }]);
  d = select(rules, ctx(), LOW, { health: health(['acq-a', 'acq-c'], { 'acq-a': 0.9, 'acq-c': 0.6 }) });
  t.ok(d.explanation.allDead);
  t.same(routeOf(d), ['t1', 't5', 't-default'], 'all dead: still offered, in priority order');
  // A dead route gets a probe when the detector grants one.
  let probes = 0;
  const probing: HealthView = { isAlive: (id) => id !== 't1', failureScore: () => 0, tryProbe: (id) => id === 't1' && probes++ === 0 };
  d = select(rules, ctx(), LOW, { health: probing });
  t.same(routeOf(d), ['t1', 't5', 't-default']);
  t.equal(d.explanation.candidates[0]!.probe, true);
  d = select(rules, ctx(), LOW, { health: probing });
  t.same(routeOf(d), ['t5', 't-default', 't1'], 'one probe per permit: after it, t1 is dead again and goes last');
});

t.test('order within a priority: lottery winner, then success rate, then failure score, then id', async (t) => {
  const rules = fixture([
    {
      id: 'r',
      when: { psp: ['psp1'] },
      then: {
        terminals: [
          { terminal: 't1', priority: 1, weight: 0 },
          { terminal: 't5', priority: 1, weight: 0 },
          { terminal: 't-default', priority: 1, weight: 1 },
        ],
      },
    },
  ]);
  const sr = (m: Record<string, number>, elim: string[] = []) => ({ score: (id: string) => m[id] ?? 1, eliminated: (id: string) => elim.includes(id) });
  const noExplore = () => 0.99;
  let d = select(rules, ctx(), LOW, { successRate: sr({ t1: 0.5, t5: 0.9 }), random: noExplore });
  t.same(routeOf(d), ['t-default', 't5', 't1']);
  d = select(rules, ctx(), LOW, {
    successRate: sr({ t1: 0.9, t5: 0.9 }),
    random: noExplore,
    health: { isAlive: () => true, failureScore: (id) => (id === 't1' ? 0.2 : 0.1), tryProbe: () => false },
  });
  t.same(routeOf(d), ['t-default', 't5', 't1']);
  d = select(rules, ctx(), LOW, {});
  t.same(routeOf(d), ['t-default', 't1', 't5'], 'ties broken by id');
  // An eliminated route cannot win the lottery (unless exploring) but stays as a backup.
  d = select(rules, ctx(), LOW, { successRate: sr({}, ['t-default']), random: noExplore });
  t.same(routeOf(d).sort(), ['t-default', 't1', 't5'].sort());
  t.equal(d.explanation.candidates.find((c) => c.terminal === 't-default')!.lotteryWinner, false);
  d = select(rules, ctx(), LOW, { successRate: sr({}, ['t-default']), random: () => 0.01 });
  t.equal(routeOf(d)[0], 't-default', 'exploration ignores elimination');
});

t.test('explanation carries the rules version, hash, BIN and risk', async (t) => {
  const rules = fixture([]);
  const d = select(rules, ctx(), { level: 'trusted', reasons: [] });
  t.equal(d.explanation.rulesVersion, null);
  t.equal(d.explanation.rulesHash, rules.hash);
  t.same(d.explanation.bin, { brand: 'visa', card_type: 'debit', issuer: 'Euro', country: 'DE' });
  t.equal(d.explanation.risk.level, 'trusted');
  t.same(JSON.parse(JSON.stringify(d)).kind, 'route', 'serializable');
});

t.test('3-D Secure counts in risk coverage: liability shift on a 3-D Secure terminal; no unauthenticated high risk without one', async (t) => {
  const HIGH: RiskResult = { level: 'high', reasons: ['test'] };
  const FATAL: RiskResult = { level: 'fatal', reasons: ['test'] };
  const ecom = (threeDs: 'authenticated' | 'attempted' | 'not_authenticated', eci: string | null) => ({
    authentication: { entryMode: 'ecommerce' as const, eci, threeDs },
  });
  const chip = { authentication: { entryMode: 'chip' as const, eci: null, threeDs: 'not_applicable' as const } };
  // t4 (enabled here): no 3-D Secure, covers high; t1: 3-D Secure, covers high
  const rules = fixture(
    [
      {
        id: 'r',
        when: { currency: ['978'] },
        then: {
          terminals: [
            { terminal: 't4', priority: 1 },
            { terminal: 't1', priority: 2 },
          ],
        },
      },
    ],
    (f) => {
      f.terminals.terminals.find((x) => x.id === 't4')!.enabled = true;
    },
  );
  const unauth = select(rules, ctx(ecom('not_authenticated', '07')), HIGH);
  t.same(routeOf(unauth), ['t1'], 'high risk, remote, not authenticated: never the terminal without 3-D Secure');
  t.match(unauth.explanation.rejected, [{ terminal: 't4', reason: 'three_ds', detail: 'high risk, ecommerce not authenticated' }]);
  t.same(routeOf(select(rules, ctx(ecom('authenticated', '05')), HIGH)), ['t4', 't1'], 'authenticated: either');
  t.same(routeOf(select(rules, ctx(chip), HIGH)), ['t4', 't1'], 'card present: 3-D Secure does not apply');
  t.same(routeOf(select(rules, ctx(ecom('not_authenticated', null)), LOW)), ['t4', 't1'], 'low risk may go without 3-D Secure');
  t.same(routeOf(select(rules, ctx({}), HIGH)), ['t4', 't1'], 'authentication unknown (not read): coverage as before');

  // t2 made a 3-D Secure terminal covering low only: an authenticated high-risk payment shifts liability, so it is covered
  const low3ds = fixture([{ id: 'r', when: { currency: ['978'] }, then: { terminals: [{ terminal: 't2', priority: 1 }] } }], (f) => {
    f.terminals.terminals.find((x) => x.id === 't2')!.three_ds = true;
  });
  t.same(routeOf(select(low3ds, ctx(ecom('authenticated', '05')), HIGH)), ['t2'], 'authenticated high risk: covered as low');
  t.same(routeOf(select(low3ds, ctx(ecom('attempted', '06')), HIGH)), ['t2'], 'an attempt shifts liability too');
  t.match(select(low3ds, ctx(ecom('not_authenticated', '07')), HIGH).explanation.rejected, [{ terminal: 't2', reason: 'risk_coverage' }]);
  t.match(select(low3ds, ctx(ecom('authenticated', '05')), FATAL), { kind: 'decline' }, 'fatal never routes, authenticated or not');
  const low2 = fixture([{ id: 'r', when: { currency: ['978'] }, then: { terminals: [{ terminal: 't2', priority: 1 }] } }]);
  t.match(
    select(low2, ctx(ecom('authenticated', '05')), HIGH).explanation.rejected,
    [{ terminal: 't2', reason: 'risk_coverage' }],
    'no shift on a terminal without 3-D Secure',
  );
});
