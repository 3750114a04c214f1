/**
 * Success-rate state (docs/routing.md, "Failure detector, breakers, success rate"): the same figures from the same
 * window on every instance through Redis; a route that converts too little is "lacking", ranked after the others of
 * its priority and said so in the explanation, never removed.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SuccessRateTracker, rateOf } from '../../src/routing/success-rate.js';
import { RedisSuccessRateTracker } from '../../src/routing/success-rate-redis.js';
import { select } from '../../src/routing/selector.js';
import { fixture, ctx } from './fixtures/rules.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

t.test('figures from a window, oldest first', async (t) => {
  const o = { penalty: 0.5, reward: 2 };
  t.same(rateOf([], o), { score: 1, factor: 1, count: 0 }, 'no history: optimistic');
  t.same(rateOf([0, 0, 1], o), { score: 1 / 3, factor: 0.5, count: 3 });
  t.same(rateOf([1, 0, 0], o), { score: 1 / 3, factor: 0.25, count: 3 }, 'the order matters for the factor');
  const local = new SuccessRateTracker({ lackingMinVolume: 4, lackingBelow: 0.5 });
  for (const ok of [true, false, false]) local.record('t1', ok);
  t.equal(local.lacking('t1'), false, 'too few outcomes to judge');
  local.record('t1', false);
  t.equal(local.lacking('t1'), true, 'a quarter over four: lacking');
  t.equal(local.eliminated('t1'), false, 'not eliminated (the factor is 0.95^3)');
});

t.test('lacking: ranked after the others of its priority, never removed, said in the explanation', async (t) => {
  const rules = fixture([
    {
      id: 'r',
      when: { currency: ['978'] },
      then: {
        terminals: [
          { terminal: 't1', priority: 1, weight: 1000 },
          { terminal: 't5', priority: 1, weight: 1 },
          { terminal: 't-default', priority: 2 },
        ],
      },
    },
  ]);
  const sr = { score: (id: string) => (id === 't1' ? 0.2 : 0.9), eliminated: () => false, lacking: (id: string) => id === 't1' };
  // u = 0 makes t1 (weight 1000) the lottery winner: lacking, it still goes after t5
  const d = select(rules, ctx({}), { level: 'low', reasons: [] }, { successRate: sr, random: () => 0.5, explore: 0 });
  t.same(d.kind === 'route' ? d.routes.map((r) => r.terminal) : [], ['t5', 't1', 't-default']);
  t.match(d.explanation.candidates, [{ terminal: 't5' }, { terminal: 't1', lacking: true, lotteryWinner: true }, { terminal: 't-default' }]);
  t.notOk(d.explanation.candidates[0]!.lacking);
});

t.test('Redis: what one instance saw is what the other ranks by', async (t) => {
  const a = new Redis(REDIS_URL);
  const b = new Redis(REDIS_URL);
  t.teardown(async () => {
    await Promise.all([a.quit(), b.quit()]);
  });
  const prefix = `sw-test-${randomBytes(4).toString('hex')}:`;
  const one = new RedisSuccessRateTracker({ redis: a, prefix, syncMs: 60_000, lackingMinVolume: 20 });
  const two = new RedisSuccessRateTracker({ redis: b, prefix, syncMs: 60_000, lackingMinVolume: 20 });
  t.teardown(async () => {
    await Promise.all([one.close(), two.close()]);
  });
  for (let i = 0; i < 25; i++) one.record('b-eur-1', i % 5 === 0);
  for (let i = 0; i < 25; i++) two.record('a-eur-1', true);
  t.equal(two.lacking('b-eur-1'), false, 'not seen at the other instance before a sync');
  await one.sync();
  await two.sync();
  await one.sync();
  for (const x of [one, two]) {
    t.equal(x.score('b-eur-1'), 5 / 25, 'the same score at both');
    t.equal(x.lacking('b-eur-1'), true, 'lacking at both');
    t.equal(x.score('a-eur-1'), 1);
    t.equal(x.lacking('a-eur-1'), false);
  }
  t.same(one.snapshot()['b-eur-1'], two.snapshot()['b-eur-1'], 'and the same factor and volume');
  // the window is capped at 100 outcomes, shared
  for (let i = 0; i < 150; i++) two.record('b-eur-1', true);
  await two.sync();
  await one.sync();
  t.same(one.snapshot()['b-eur-1']!.count, 100, 'capped');
  t.equal(one.lacking('b-eur-1'), false, 'converting again: no longer lacking');
});
