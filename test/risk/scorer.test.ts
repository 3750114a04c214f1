import t, { type Test } from 'tap';
import { RiskScorer } from '../../src/risk/scorer.js';
import { MemoryVelocityStore, RedisVelocityStore, type VelocityStore } from '../../src/risk/velocity.js';
import { RoutingEngine } from '../../src/routing/engine.js';
import { isSwitchError } from '../../src/errors.js';
import type { RiskFile, RuleFiles } from '../../src/routing/types.js';
import { fixture, ctx, NOON } from '../routing/fixtures/rules.js';
import { testRedis } from '../helpers/redis.js';
import { behindProxy } from '../helpers/proxy.js';
import { createRedis, closeRedis } from '../../src/store/redis.js';

const at = (ms: number) => new Date(NOON.getTime() + ms);

const risk = (r: RiskFile) => (f: RuleFiles) => void (f.risk = r);

t.test('risk signals table', async (t) => {
  const rules = fixture(
    [],
    risk({
      default_level: 'low',
      trusted_merchants: ['SHOP1'],
      blocked: { bins: ['601100'], tokens: ['stolen'] },
      amount_thresholds: [
        { currency: '978', above_minor: 50_000, level: 'high' },
        { currency: '*', above_minor: 90_000, level: 'fatal' },
      ],
      country_mismatch: { level: 'high' },
    }),
  );
  const s = new RiskScorer();
  const cases: [string, Parameters<typeof ctx>[0], string, string[]][] = [
    ['trusted merchant, clean', { bin: '40001234' }, 'trusted', []],
    ['default level', { merchantId: 'SHOP2', bin: '47000000' }, 'high', ['country_mismatch']],
    ['country match for SHOP2 (FR)', { merchantId: 'SHOP2', bin: '40001234', psp: 'psp2' }, 'high', ['country_mismatch']],
    ['blocked token', { cardToken: 'stolen' }, 'fatal', ['blocked_token']],
    ['blocked BIN', { bin: '60110012' }, 'fatal', ['blocked_bin', 'country_mismatch']],
    ['amount above threshold', { amountMinor: 50_001 }, 'high', ['amount_above_50000_978']],
    ['amount at threshold', { amountMinor: 50_000n }, 'trusted', []],
    ['amount fatal any currency', { amountMinor: 95_000, currency: '840' }, 'fatal', ['amount_above_90000_any']],
    ['country mismatch', { bin: '41111111' }, 'high', ['country_mismatch']],
    ['unknown BIN: no mismatch signal', { bin: '99999999' }, 'trusted', []],
  ];
  for (const [name, c, level, reasons] of cases) {
    const r = await s.score(rules, ctx(c));
    t.equal(r.level, level, `${name}: level`);
    t.same(r.reasons, reasons, `${name}: reasons`);
  }
  const r2 = await s.score(fixture([], risk({ default_level: 'low' })), ctx({ merchantId: 'SHOP2' }));
  t.equal(r2.level, 'low', 'default level when no signal');
});

async function velocityCases(t: Test, store: VelocityStore): Promise<void> {
  const rules = fixture(
    [],
    risk({
      timeout_ms: 30_000, // a loaded machine must not turn a slow Redis round trip into the fallback level
      velocity: [
        { key: 'card', window_s: 60, max_count: 3, level: 'high' },
        { key: 'card', window_s: 3600, max_count: 5, level: 'fatal' },
        { key: 'merchant', window_s: 10, max_count: 4, level: 'high' },
      ],
    }),
  );
  const s = new RiskScorer({ velocity: store });
  const levels: string[] = [];
  for (let i = 0; i < 4; i++) levels.push((await s.score(rules, ctx({ cardToken: 'card-v', at: at(i * 1000) }))).level);
  t.same(levels, ['low', 'low', 'low', 'high'], 'the 4th in a minute is high');
  // 2 minutes later the 60 s window is clear again, the 1 h window is not.
  t.equal((await s.score(rules, ctx({ cardToken: 'card-v', at: at(120_000) }))).level, 'low');
  const r = await s.score(rules, ctx({ cardToken: 'card-v', at: at(121_000) }));
  t.equal(r.level, 'fatal', '6th in an hour');
  t.same(r.reasons, ['velocity_card_3600s']);
  // Merchant velocity counts every card.
  const m: string[] = [];
  for (let i = 0; i < 6; i++) m.push((await s.score(rules, ctx({ cardToken: `c-${i}`, merchantId: 'SHOP2', psp: 'psp2', at: at(200_000 + i) }))).level);
  t.same(m, ['low', 'low', 'low', 'low', 'high', 'high']);
}

t.test('velocity in memory over sliding windows', async (t) => {
  await velocityCases(t, new MemoryVelocityStore());
});

t.test('velocity in Redis over sliding windows, shared by two scorers', async (t) => {
  const r = await testRedis(t);
  await velocityCases(t, new RedisVelocityStore(await r.client(), r.prefix));
  const rules = fixture([], risk({ timeout_ms: 30_000, velocity: [{ key: 'card', window_s: 60, max_count: 1, level: 'high' }] }));
  const a = new RiskScorer({ velocity: new RedisVelocityStore(await r.client(), r.prefix) });
  const b = new RiskScorer({ velocity: new RedisVelocityStore(await r.client(), r.prefix) });
  t.equal((await a.score(rules, ctx({ cardToken: 'shared' }))).level, 'low');
  t.equal((await b.score(rules, ctx({ cardToken: 'shared' }))).level, 'high', 'B sees A’s hit');
});

t.test('Redis that stops answering: the scorer counts from this instance within its budget, not its fallback (F17)', async (t) => {
  const r = await testRedis(t);
  const { proxy, url } = await behindProxy(t, r.url, 6379);
  const client = createRedis({ url });
  t.teardown(() => closeRedis(client));
  await client.connect();
  const fellBack: unknown[] = [];
  const store = new RedisVelocityStore(client, r.prefix, { onFallback: (e) => fellBack.push(e) });
  const rules = fixture([], risk({ timeout_ms: 200, velocity: [{ key: 'card', window_s: 60, max_count: 1, level: 'high' }] }));
  const s = new RiskScorer({ velocity: store });
  t.same(await s.score(rules, ctx({ cardToken: 'stall', at: at(1_000) })), { level: 'low', reasons: [] }, 'first hit, from Redis');
  t.equal(fellBack.length, 0);
  proxy.stall();
  const during = await s.score(rules, ctx({ cardToken: 'stall', at: at(2_000) }));
  t.same(during, { level: 'high', reasons: ['velocity_card_60s'] }, "second hit counted by this instance: no 'scorer_failed'");
  t.match(fellBack[0], { code: 'SW_ERR_RISK_VELOCITY_LATE' }, 'the fallback to local counts is reported with its code');
  proxy.up();
  const other = new RedisVelocityStore(client, r.prefix);
  t.same(await other.hit('card:stall', [60_000], at(3_000).getTime(), 5_000), [3], 'after the stall the shared counts hold all three hits');
});

t.test('scorer failure → configured fallback level (default high), logged', async (t) => {
  const broken: VelocityStore = {
    hit: async () => Promise.reject(new Error('ECONNREFUSED')),
    hitAmount: async () => Promise.reject(new Error('ECONNREFUSED')),
  };
  // never answers: only the time budget ends it
  const slow: VelocityStore = { hit: () => new Promise(() => undefined), hitAmount: () => new Promise(() => undefined) };
  const warnings: object[] = [];
  const logger = { warn: (o: object) => void warnings.push(o) };
  const vel = [{ key: 'card' as const, window_s: 60, max_count: 1, level: 'high' as const }];
  let r = await new RiskScorer({ velocity: broken, logger }).score(fixture([], risk({ velocity: vel })), ctx());
  t.same(r, { level: 'high', reasons: ['scorer_failed'], fallback: true }, 'default fallback is high');
  t.match(warnings[0], { code: 'SW_ERR_RISK_SCORER_FAILED' });
  r = await new RiskScorer({ velocity: broken }).score(fixture([], risk({ velocity: vel, fallback_level: 'low' })), ctx());
  t.equal(r.level, 'low', 'configured fallback');
  r = await new RiskScorer({ velocity: slow }).score(fixture([], risk({ velocity: vel, timeout_ms: 20 })), ctx());
  t.same(r, { level: 'high', reasons: ['scorer_failed'], fallback: true }, 'time budget exceeded');
  // Through the engine: the fallback level filters terminals by coverage.
  const rules = fixture(
    [
      {
        id: 'r',
        when: { psp: ['psp1'] },
        then: {
          terminals: [
            { terminal: 't2', priority: 1 },
            { terminal: 't1', priority: 2 },
          ],
        },
      },
    ],
    risk({ velocity: vel }),
  );
  const engine = new RoutingEngine({ rules, scorer: new RiskScorer({ velocity: broken }) });
  const d = await engine.decide(ctx({ mcc: '5411' }));
  t.equal(d.kind, 'route');
  if (d.kind === 'route')
    t.same(
      d.routes.map((x) => x.terminal),
      ['t1'],
      'low-coverage t2 filtered at fallback high',
    );
  t.same(d.explanation.rejected, [{ terminal: 't2', reason: 'risk_coverage', detail: 'high > low' }]);
  t.equal(d.explanation.risk.fallback, true);
});

t.test('fatal risk declines before routing (engine)', async (t) => {
  const rules = fixture([], (f) => {
    f.risk = { blocked: { tokens: ['stolen'] }, fatal_decline_code: '59' };
  });
  const engine = new RoutingEngine({ rules });
  const d = await engine.decide(ctx({ cardToken: 'stolen' }));
  t.equal(d.kind, 'decline');
  if (d.kind === 'decline') t.equal(d.code, '59');
  t.equal(d.explanation.ruleId, null);
  t.equal((await engine.decide(ctx())).kind, 'route');
});

t.test('engine rejects malformed contexts with a typed error that echoes no values', async (t) => {
  const engine = new RoutingEngine({ rules: fixture([]) });
  const bads: [Record<string, unknown>, string][] = [
    [{ bin: '4111111111111111' }, '/bin'],
    [{ bin: '41x111' }, '/bin'],
    [{ amountMinor: -1 }, '/amountMinor'],
    [{ amountMinor: 1.5 }, '/amountMinor'],
    [{ currency: 'EUR' }, '/currency'],
    [{ mcc: '54' }, '/mcc'],
    [{ at: new Date('x') }, '/at'],
    [{ cardToken: '' }, '/cardToken'],
    [{ metadata: { a: 1 } }, '/metadata/a'],
  ];
  for (const [over, path] of bads) {
    const err = await engine.decide({ ...ctx(), ...over } as never).catch((e: unknown) => e);
    t.ok(isSwitchError(err, 'SW_ERR_ROUTING_BAD_CONTEXT'), path);
    t.equal((err as { params: { path: string } }).params.path, path);
    t.notMatch((err as Error).message, /4111111111111111/);
  }
});
