/**
 * DE3 and DE54 as the flows read them (src/switch/processing-code.ts; docs/switch.md, "Transaction types").
 */
import t from 'tap';
import { cashbackAmount, formatAdditionalAmounts, parseAdditionalAmounts, parseProcessingCode } from '../../src/switch/processing-code.js';

t.test('processing code: four types worked, the rest unsupported, anything but six digits a format error', async (t) => {
  t.same(parseProcessingCode('000000'), { ok: true, type: 'purchase', code: '000000' });
  t.same(parseProcessingCode('091000'), { ok: true, type: 'cashback', code: '091000' });
  t.same(parseProcessingCode('200030'), { ok: true, type: 'refund', code: '200030' });
  t.same(parseProcessingCode('302000'), { ok: true, type: 'balance', code: '302000' });
  for (const c of ['020000', '220000', '010000', '310000', '400000', '990000']) t.same(parseProcessingCode(c), { ok: false, error: 'unsupported', code: c }, c);
  for (const c of [undefined, '', '00000', '0000000', '00000A', ' 00000'])
    t.equal(parseProcessingCode(c).ok || (parseProcessingCode(c) as { error: string }).error, 'format', String(c));
});

t.test('DE54: whole 20-character amounts, 1 to 6, round trip', async (t) => {
  const two = '1002978C0000000043211001978D000000000100';
  const parsed = parseAdditionalAmounts(two)!;
  t.same(parsed, [
    { accountType: '10', amountType: '02', currency: '978', sign: 'C', amount: 4321n },
    { accountType: '10', amountType: '01', currency: '978', sign: 'D', amount: 100n },
  ]);
  t.equal(formatAdditionalAmounts(parsed), two);
  for (const bad of [undefined, '', '1002978C00000000432', '1002978X000000004321', '10029A8C000000004321', '1002978C000000004321'.repeat(7)])
    t.equal(parseAdditionalAmounts(bad), null, JSON.stringify(bad));
});

t.test('cashback: one type-40 amount in the currency, above zero and below the whole', async (t) => {
  t.equal(cashbackAmount('0040978C000000000500', '978', 2_000n), 500n);
  t.equal(cashbackAmount('0002978C0000000099990040978C000000000500', '978', 2_000n), 500n, 'other amounts beside it are allowed');
  t.match(cashbackAmount(undefined, '978', 2_000n), /missing/);
  t.match(cashbackAmount('0002978C000000000500', '978', 2_000n), /one cashback amount/);
  t.match(cashbackAmount('0040978C0000000005000040978C000000000100', '978', 2_000n), /one cashback amount/);
  t.match(cashbackAmount('0040840C000000000500', '978', 2_000n), /currency/);
  t.match(cashbackAmount('0040978C000000000000', '978', 2_000n), /above zero/);
  t.match(cashbackAmount('0040978C000000002000', '978', 2_000n), /below the whole/);
});
