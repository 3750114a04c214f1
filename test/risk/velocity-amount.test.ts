/**
 * Velocity over amounts (docs/routing.md, "Risk"): the sum of a card's or merchant's amounts in one currency over a
 * window raises the level, as counts do; other currencies are not added up; with Redis every instance sums the
 * same events.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { RiskScorer } from '../../src/risk/scorer.js';
import { MemoryVelocityStore, RedisVelocityStore, type VelocityStore } from '../../src/risk/velocity.js';
import { connectRedis, closeRedis } from '../../src/store/redis.js';
import { fixture, ctx, NOON } from '../routing/fixtures/rules.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const at = (ms: number) => new Date(NOON.getTime() + ms);
const rules = fixture([], (f) => {
  f.risk = {
    default_level: 'low',
    velocity: [
      { key: 'card', window_s: 3600, max_amount_minor: 50_000, currency: '978', level: 'high' },
      { key: 'merchant', window_s: 60, max_amount_minor: 100_000, currency: '978', level: 'high' },
      { key: 'card', window_s: 60, max_count: 10, level: 'high' },
    ],
  };
});

for (const kind of ['memory', 'redis'] as const) {
  t.test(`sums per window and currency (${kind})`, async (t) => {
    let one: VelocityStore;
    let two: VelocityStore;
    if (kind === 'redis') {
      const a = await connectRedis({ url: REDIS_URL });
      const b = await connectRedis({ url: REDIS_URL });
      t.teardown(() => Promise.all([closeRedis(a), closeRedis(b)]));
      const prefix = `sw-test-${randomBytes(4).toString('hex')}:`;
      one = new RedisVelocityStore(a, prefix);
      two = new RedisVelocityStore(b, prefix);
    } else one = two = new MemoryVelocityStore();
    const s1 = new RiskScorer({ velocity: one });
    const s2 = new RiskScorer({ velocity: two });
    const card = `card-${kind}`;
    const pay = (s: RiskScorer, amountMinor: number, ms: number, currency = '978', merchantId = 'SHOP2') =>
      s.score(rules, ctx({ cardToken: card, amountMinor, currency, merchantId, bin: '40001234', psp: 'psp2', at: at(ms) }));

    t.match(await pay(s1, 20_000, 0), { level: 'low', reasons: [] });
    t.match(await pay(s2, 20_000, 1000), { level: 'low' }, `40000 in the hour${kind === 'redis' ? ', seen at the other instance' : ''}`);
    t.match(await pay(s1, 40_000, 2000, '840'), { level: 'low' }, 'dollars are not added to euros');
    t.match(await pay(s2, 10_001, 3000), { level: 'high', reasons: ['velocity_card_amount_3600s'] }, '50001 in the hour');
    t.match(await pay(s1, 5000, 3_600_000 + 1500), { level: 'low', reasons: [] }, 'an hour after the first two: 15001 left in the window');
    // the merchant's minute: 100000
    t.match(await pay(s1, 60_000, 7_200_000, '978', 'SHOP2'), { level: 'high', reasons: ['velocity_card_amount_3600s'] });
    t.match(await pay(s2, 41_000, 7_201_000, '978', 'SHOP2'), { reasons: ['velocity_card_amount_3600s', 'velocity_merchant_amount_60s'] });
  });
}
