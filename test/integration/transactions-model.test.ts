/**
 * A model test of the card transactions (docs/switch.md, "Transaction types", "Captures", "Refunds"): random
 * sequences of authorize, capture (partial or final), refund, reverse and expire, sent to a real switch on
 * PostgreSQL through the built-in simulators, each answer compared with a small in-memory model, and after each
 * sequence the merchant's posted balance compared with what the model says moved, every authorization's refunds
 * checked against its captures, and ledger:check run. fast-check shrinks a failing sequence to a short one.
 */
import t from 'tap';
import fc from 'fast-check';
import pino from 'pino';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { Sweeper } from '../../src/switch/sweeper.js';
import { startTestSwitch, auth, capture, de90, rc, txnOf, nextStan, refundOf, shippedFee } from '../helpers/switch.js';
import { propertyHolds, testSeed } from '../helpers/seed.js';

type Op =
  | { op: 'capture'; i: number; amount: number; partial: boolean }
  | { op: 'refund'; i: number; amount: number }
  | { op: 'reverse'; i: number }
  | { op: 'expire' };

interface Auth {
  msg: IsoMessage;
  acquirer: string;
  terminal: string;
  state: 'approved' | 'captured' | 'reversed' | 'expired';
  /** still held */
  open: bigint;
  captures: bigint[];
  finalCapture: bigint | null;
  refunds: bigint[];
}

// weighted so that every case comes up often (the counts are printed): partial captures that leave something
// open, refunds within and above what was captured, reversals before and after capture, with and without refunds
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('capture' as const),
      i: fc.nat(1),
      amount: fc.integer({ min: 1, max: 3_000 }),
      partial: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('refund' as const), i: fc.nat(1), amount: fc.integer({ min: 1, max: 2_000 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reverse' as const), i: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'expire' as const }) },
);

t.test('authorize, capture, refund, reverse, expire: the switch and the ledger agree with the model', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000 } });
  const MER = 'merchant:SHOP00000000001:978';
  const sweeper = new Sweeper(
    s.h.store,
    s.h.ledger,
    s.h.acquirers,
    { holdAgeMs: 1, intervalMs: 60_000, staleSentMs: 60_000, safExpireMs: 60_000, kickSaf: () => undefined },
    pino({ level: 'silent' }),
  );
  const posted = async () => {
    try {
      return (await s.h.ledger.balances(MER)).posted;
    } catch {
      return 0n;
    }
  };
  let runs = 0;
  /** how often each operation got each answer: the sequences must reach every case, or the test proves little */
  const seen = new Map<string, number>();

  await propertyHolds(
    t,
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1_000, max: 8_000 }), { minLength: 1, maxLength: 3 }),
      fc.array(opArb, { maxLength: 10 }),
      async (amounts, ops) => {
        runs++;
        // authorizations of earlier runs still open would be expired by this run's expiry: expire them first
        await sweeper.expire();
        const before = await posted();
        const auths: Auth[] = [];
        for (const a of amounts) {
          const msg = auth({ amount: a });
          if (rc(await s.client.send(msg)) !== '00') throw new Error('the authorization was not approved');
          const row = (await txnOf(s.db.pool, msg))!;
          auths.push({
            msg,
            acquirer: row.acquirer!,
            terminal: row.terminal!,
            state: 'approved',
            open: BigInt(a),
            captures: [],
            finalCapture: null,
            refunds: [],
          });
        }
        let moved = 0n; // what the model says reached the merchant's posted balance
        for (const o of ops) {
          if (o.op === 'expire') {
            await sweeper.expire();
            for (const a of auths) if (a.state === 'approved') a.state = 'expired';
            continue;
          }
          const a = auths[o.i % auths.length]!;
          const captured = a.captures.reduce((x, y) => x + y, 0n);
          const refunded = a.refunds.reduce((x, y) => x + y, 0n);
          let want: string;
          let req: IsoMessage;
          if (o.op === 'capture') {
            const amt = BigInt(o.amount);
            req = capture(a.msg, o.amount);
            if (o.partial) req.set(63, '0109');
            if (a.state === 'approved') {
              if (amt > a.open) want = '13';
              else {
                want = '00';
                a.captures.push(amt);
                moved += amt - shippedFee(a.acquirer, amt, a.terminal);
                if (o.partial && amt < a.open) a.open -= amt;
                else {
                  a.finalCapture = amt;
                  a.open = 0n;
                  a.state = 'captured';
                }
              }
            } else want = a.state === 'captured' && a.finalCapture === amt ? '00' : '12';
          } else if (o.op === 'refund') {
            const amt = BigInt(o.amount);
            req = refundOf(a.msg, o.amount);
            if (a.state === 'reversed') want = '12';
            else if (amt > captured - refunded) want = '13';
            else {
              want = '00';
              a.refunds.push(amt);
              moved -= amt - shippedFee(a.acquirer, amt, a.terminal); // the refund out, its fee given back
            }
          } else {
            req = new IsoMessage('0400', {
              4: String(a.msg.getString(4)),
              7: transmissionDateTime(),
              11: nextStan(),
              41: a.msg.getString(41)!,
              42: a.msg.getString(42)!,
              49: '978',
              90: de90(a.msg),
            });
            if (a.state === 'approved') {
              want = '00';
              a.state = 'reversed';
              a.open = 0n;
            } else if (a.state === 'captured' && refunded === 0n) {
              want = '00';
              a.state = 'reversed';
              moved -= a.finalCapture! - shippedFee(a.acquirer, a.finalCapture!, a.terminal); // the final capture moved back
              a.captures.pop();
            } else if (a.state === 'captured') want = '12';
            else want = '00'; // reversed or expired already: acknowledged, nothing moves
          }
          const got = rc(await s.client.send(req));
          seen.set(`${o.op}:${want}`, (seen.get(`${o.op}:${want}`) ?? 0) + 1);
          if (got !== want) throw new Error(`${JSON.stringify(o)} on ${a.state}: the switch answered ${got}, the model ${want}`);
        }
        const after = await posted();
        if (after - before !== moved) throw new Error(`merchant posted moved ${after - before}, the model ${moved}`);
        for (const a of auths) {
          const row = (await txnOf(s.db.pool, a.msg))!;
          const { rows } = await s.db.pool.query<{ cap: string; ref: string }>(
            `select coalesce(sum(amount) filter (where kind = 'capture' and state = 'approved'), 0)::text as cap,
                  coalesce(sum(amount) filter (where kind = 'refund' and state = 'approved'), 0)::text as ref
             from switch_txn where original_id = $1`,
            [row.id],
          );
          if (BigInt(rows[0]!.ref) > BigInt(rows[0]!.cap)) throw new Error(`refunded ${rows[0]!.ref} of ${rows[0]!.cap} captured`);
          if (BigInt(rows[0]!.ref) !== a.refunds.reduce((x, y) => x + y, 0n)) throw new Error(`refunds ${rows[0]!.ref}, the model ${a.refunds.join('+')}`);
        }
        const check = await s.h.ledger.check();
        if (!check.ok) throw new Error(`ledger:check: ${JSON.stringify(check.violations).slice(0, 300)}`);
      },
    ),
    { seed: testSeed(t, 20261204), numRuns: 50, endOnFailure: true },
    'the model',
  );
  t.ok(runs >= 50, `${runs} sequences sent`);
  t.comment(JSON.stringify(Object.fromEntries(seen)));
  for (const k of ['capture:00', 'capture:13', 'capture:12', 'refund:00', 'refund:13', 'refund:12', 'reverse:00', 'reverse:12'])
    t.ok((seen.get(k) ?? 0) > 0, `the sequences reached ${k}`);
});
