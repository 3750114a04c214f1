/**
 * The turnover counters (src/risk/turnover.ts): all of a reservation's periods or none, never past a limit under
 * concurrent reservations (Redis: one Lua call each), given back never below zero, keyed by the UTC day and month.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryTurnoverStore, RedisTurnoverStore, periodOf, type TurnoverStore, type TurnoverSubject } from '../../src/risk/turnover.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const AT = Date.parse('2026-12-06T10:00:00Z');

t.test('periods are the UTC day and month', async (t) => {
  t.equal(periodOf('day', Date.parse('2026-12-31T23:59:59Z')), '2026-12-31');
  t.equal(periodOf('month', Date.parse('2026-12-31T23:59:59Z')), '2026-12');
  t.equal(periodOf('day', Date.parse('2027-01-01T00:00:00Z')), '2027-01-01');
});

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind}: limits, all or nothing, concurrency, release`, async (t) => {
    let store: TurnoverStore;
    if (kind === 'redis') {
      const redis = new Redis(REDIS_URL, { lazyConnect: false });
      t.teardown(() => redis.quit());
      store = new RedisTurnoverStore(redis, `sw-test-${randomBytes(4).toString('hex')}:`);
    } else store = new MemoryTurnoverStore();
    const term: TurnoverSubject = { kind: 'terminal', id: 't1', limits: { '978': { day: { amount_minor: 10_000 }, month: { count: 12 } } } };

    const results = await Promise.all(Array.from({ length: 20 }, () => store.reserve([term], '978', 1000, AT)));
    t.equal(results.filter((r) => r === null).length, 10, '20 at once, 10 fit');
    t.match(
      results.find((r) => r !== null),
      { kind: 'terminal', id: 't1', period: 'day', what: 'amount', used: 10_000, limit: 10_000 },
    );
    t.same(await store.used('terminal', 't1', '978', 'day', AT), { amount: 10_000, count: 10 });
    t.same(await store.used('terminal', 't1', '978', 'month', AT), { amount: 10_000, count: 10 }, 'a refused one counted in no period');
    t.equal(await store.reserve([term], '840', 1_000_000, AT), null, 'another currency has no limit');

    await store.release([term], '978', 3000, 3, AT);
    t.same(await store.used('terminal', 't1', '978', 'day', AT), { amount: 7000, count: 7 });
    t.equal(await store.reserve([term], '978', 1000, AT + 86_400_000), null, 'the next day starts at zero');
    t.same(await store.used('terminal', 't1', '978', 'month', AT), { amount: 8000, count: 8 }, 'in the same month');
    for (let i = 0; i < 3; i++) t.equal(await store.reserve([term], '978', 1000, AT), null);
    t.match(await store.reserve([term], '978', 1000, AT), { period: 'day', what: 'amount', used: 10_000 }, 'the day full again');
    const later = AT + 2 * 86_400_000;
    t.equal(await store.reserve([term], '978', 1, later), null, 'the twelfth of the month');
    t.match(await store.reserve([term], '978', 1, later), { period: 'month', what: 'count', used: 12, limit: 12 }, 'the month count');
    await store.release([term], '978', 1_000_000, 100, AT);
    t.same(await store.used('terminal', 't1', '978', 'day', AT), { amount: 0, count: 0 }, 'never below zero');
  });
}
