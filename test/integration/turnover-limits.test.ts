/**
 * Turnover limits (docs/routing.md, "Turnover limits"), through the PSP port, in memory and in Redis: a terminal
 * over its day's amount is skipped with the reason in the explanation; a decline and a reversal give back what
 * they reserved; a merchant over its count is declined 65; with Redis, two instances count the same turnover.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { decodeExplanation } from '../../src/routing/explanation-codec.js';
import { activateFiles, activeFiles, startTestSwitch, auth, reversal, rc, txnOf, eventually, testPan, type TestSwitch } from '../helpers/switch.js';
import type { IsoMessage } from '../../src/iso8583/index.js';

type Files = Record<string, any>;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function withLimits(s: TestSwitch): Promise<void> {
  const files = activeFiles(s);
  files.terminals.terminals.find((x: Files) => x.id === 'a-eur-1').turnover = { '978': { day: { amount_minor: 10_000 }, month: { count: 100 } } };
  files.merchants.merchants.find((x: Files) => x.id === 'SHOP00000000004').turnover = { '978': { day: { count: 1 } } };
  files.routing.rules.unshift({
    id: 'turnover-test',
    when: { amount: { min: 3000, max: 5000 } },
    then: {
      terminals: [
        { terminal: 'a-eur-1', priority: 1 },
        { terminal: 'b-eur-1', priority: 2 },
      ],
    },
  });
  await activateFiles(s, files, 'turnover limits', 'rita');
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`turnover limits (${store})`, async (t) => {
    const overrides = store === 'redis' ? { redis: { url: REDIS_URL, prefix: `sw-test-${randomBytes(4).toString('hex')}:` } } : {};
    const s1 = await startTestSwitch(t, { overrides });
    await withLimits(s1);
    // with Redis, a second instance counts the same turnover
    const s2 = store === 'redis' ? await startTestSwitch(t, { overrides, db: s1.db }) : s1;
    await eventually(() => s2.h.watcher.version === s1.h.watcher.version, 'limits at both');
    const used = async () => (await s1.h.turnover.used('terminal', 'a-eur-1', '978', 'day', Date.now())).amount;
    const sent = async (s: TestSwitch, m: IsoMessage) => {
      const code = rc(await s.client.send(m));
      const row = (await txnOf(s.db.pool, m))!;
      const { rows } = await s.db.pool.query<{ explanation: string }>('select explanation from switch_intent where txn_id = $1 and attempt = 1', [row.id]);
      return { code, terminal: row.terminal, rejected: decodeExplanation(rows[0]?.explanation)?.rejected ?? [] };
    };

    const first = auth({ amount: 4000 });
    t.match(await sent(s1, first), { code: '00', terminal: 'a-eur-1' });
    t.match(await sent(s2, auth({ amount: 4000 })), { code: '00', terminal: 'a-eur-1' }, `the second${store === 'redis' ? ', at the other instance' : ''}`);
    t.equal(await used(), 8000, 'both counted');
    const over = await sent(s1, auth({ amount: 4000 }));
    t.match(over, { code: '00', terminal: 'b-eur-1' }, 'a-eur-1 would pass 10000 today: the next route');
    t.match(over.rejected, [{ terminal: 'a-eur-1', reason: 'turnover_limit', detail: 'day amount limit 10000 (8000 used)' }]);
    t.equal(await used(), 8000, 'nothing counted on a-eur-1 for a payment it did not take');

    const declined = await sent(s1, auth({ amount: 2000 + 1000, pan: testPan().replace(/1111$/, '0002') }));
    t.match(declined, { code: '51', terminal: 'b-eur-1' }, '3000 more would pass the limit too (acq-b declines the test card 51)');
    t.equal(rc(await s1.client.send(reversal(first))), '00', 'the first is reversed');
    t.equal(await used(), 4000, 'its turnover given back');
    const decline2 = await sent(s2, auth({ amount: 4000, pan: '4111110000020002' }));
    t.match(decline2, { code: '05', terminal: 'a-eur-1' }, 'room again: a-eur-1 takes it, and declines it');
    t.equal(await used(), 4000, 'a decline gives back what it reserved');

    const shop4 = (amount: number) => auth({ amount, merchant: 'SHOP00000000004' });
    t.equal(rc(await s1.client.send(shop4(1000))), '00', "the merchant's one payment of the day");
    t.equal(rc(await s2.client.send(shop4(1000))), '65', 'its second: declined 65 (count limit)');
  });
}
