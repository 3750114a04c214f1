/**
 * Reading an acquirer's settlement file by its layout (src/ledger/settlement-file.ts), and the matching of items
 * (src/ledger/settlement.ts) on small cases whose answer is known by hand.
 */
import t from 'tap';
import { readSettlementFile, parseCsv } from '../../src/ledger/settlement-file.js';
import { matchSettlement, type BookItem } from '../../src/ledger/settlement.js';
import type { SettlementFileLayout } from '../../src/routing/types.js';

const GERMAN: SettlementFileLayout = {
  delimiter: ';',
  date_format: 'DD.MM.YYYY',
  amount_format: 'decimal',
  decimal_separator: ',',
  columns: { date: 'Tag', rrn: 'Ref', type: 'Art', amount: 'Betrag', currency: 'Whg', fee: 'Entgelt' },
  types: { sale: 'VERKAUF', refund: 'GUTSCHRIFT' },
};

const errorOf = (text: string, layout: SettlementFileLayout = GERMAN): string => {
  try {
    readSettlementFile(text, layout, 'f.csv');
    return 'read';
  } catch (e) {
    return `${(e as { code: string }).code} ${(e as Error).message}`;
  }
};

t.test('a layout with semicolons, day-first dates, decimal commas, quoting and its own words', async (t) => {
  const text =
    '\uFEFFTag;Ref;Art;Betrag;Whg;Entgelt\r\n04.12.2026;000000000001;VERKAUF;12,50;978;0,19\r\n"04.12.2026";"00000000;2";GUTSCHRIFT;3;978;\r\n04.12.2026;000000000003;VERKAUF;1500;392;15\r\n';
  t.match(errorOf(text), /line 3: RRN '00000000;2'/, 'a quoted delimiter stays in its field (and this RRN is refused)');
  const ok = text.replace('00000000;2', '000000000002');
  const lines = readSettlementFile(ok, GERMAN);
  t.same(
    lines.map((l) => [l.line, l.rrn, l.type, l.amount, l.currency, l.day, l.fee]),
    [
      [2, '000000000001', 'sale', 1250n, 978, '2026-12-04', 19n],
      [3, '000000000002', 'refund', 300n, 978, '2026-12-04', null],
      [4, '000000000003', 'sale', 1500n, 392, '2026-12-04', 15n],
    ],
    'decimal amounts to minor units by the currency (JPY has none), an empty fee is none',
  );
});

t.test('what cannot be read is a typed error naming the line', async (t) => {
  const head = 'Tag;Ref;Art;Betrag;Whg;Entgelt\n';
  t.match(errorOf(''), /SW_ERR_SETTLEMENT_FILE_INVALID .*line 1: empty file/);
  t.match(errorOf('Tag;Ref;Art;Betrag;Whg\n'), /line 1: no column 'Entgelt'/);
  t.match(errorOf(head + '04.12.2026;1;VERKAUF;12,5;978;0\n'), /line 2: amount '12,5'/, 'EUR has two decimals, not one');
  t.match(errorOf(head + '04.12.2026;1;VERKAUF;12.50;978;0\n'), /line 2: amount '12.50'/, 'the wrong separator');
  t.match(errorOf(head + '31.02.2026;1;VERKAUF;1;978;0\n'), /line 2: date '31.02.2026' is not DD.MM.YYYY/, 'no 31 February');
  t.match(errorOf(head + '04.12.2026;1;STORNO;1;978;0\n'), /line 2: unknown type 'STORNO'/, 'a word the layout does not name');
  t.match(errorOf(head + '04.12.2026;1;VERKAUF;1;EUR;0\n'), /line 2: currency 'EUR' is not an ISO 4217 numeric/);
  t.match(errorOf(head + '04.12.2026;1;VERKAUF;1;999;0\n'), /line 2: currency 999 is unknown/);
  t.match(errorOf(head + '04.12.2026;1;VERKAUF;1;978\n'), /line 2: 5 fields, the header has 6/);
  t.match(errorOf(head + '04.12.2026;1;VERKAUF;1;978;"0\n'), /line 2: a quoted field is not closed/);
  t.same(parseCsv('a,"b ""c""",\n\n'), [{ fields: ['a', 'b "c"', ''], line: 1 }], 'doubled quotes, an empty last field, blank lines skipped');
});

const DAY = '2026-12-04';
const ours = (rrn: string, type: BookItem['type'], amount: bigint, fee = 0n, day = DAY): BookItem => ({
  planId: `${rrn}-${type}-${amount}`,
  txnId: rrn,
  rrn,
  type,
  amount,
  currency: 978,
  fee,
  day,
  terminal: 't',
});
let n = 1;
const theirs = (rrn: string, type: BookItem['type'], amount: bigint, fee: bigint | null = null, currency = 978) => ({
  line: ++n,
  rrn,
  type,
  amount,
  currency,
  day: DAY,
  fee,
  terminal: null,
});

t.test('matching: exact pairs first, then mismatches in place, then missing; netting; late', async (t) => {
  const r = matchSettlement(
    { acquirer: 'a', day: DAY, file: 'f' },
    [
      ours('1', 'sale', 300n),
      ours('1', 'sale', 700n),
      ours('2', 'sale', 500n),
      ours('2', 'reversal', 500n),
      ours('3', 'sale', 100n, 2n),
      ours('4', 'sale', 50n),
    ],
    [theirs('1', 'sale', 700n), theirs('1', 'sale', 301n), theirs('3', 'sale', 100n, 3n), theirs('5', 'sale', 80n), theirs('6', 'sale', 90n)],
    [ours('6', 'sale', 90n, 0n, '2026-12-03')],
  );
  t.equal(r.matched, 2, 'the 700 of RRN 1 (partial captures share an RRN) and RRN 3');
  t.same(
    r.breaks.map((b) => [b.kind, b.rrn, b.ours?.amount ?? null, b.theirs?.amount ?? null]),
    [
      ['amount_mismatch', '1', '300', '301'],
      ['fee_difference', '3', '100', '100'],
      ['missing_theirs', '4', '50', null],
      ['missing_ours', '5', null, '80'],
      ['late', '6', '90', '90'],
    ],
    'the sale reversed the same day (RRN 2) is nothing on either side',
  );
  t.same(r.counts, { missing_ours: 1, missing_theirs: 1, amount_mismatch: 1, currency_mismatch: 0, fee_difference: 1, late: 1, other_day: 0 });
  const clean = matchSettlement({ acquirer: 'a', day: DAY, file: 'f' }, [ours('1', 'refund', 10n, 1n)], [theirs('1', 'refund', 10n, 1n)]);
  t.same([clean.matched, clean.breaks], [1, []], 'a clean day has no breaks');
  const cur = matchSettlement({ acquirer: 'a', day: DAY, file: 'f' }, [ours('1', 'sale', 10n)], [theirs('1', 'sale', 10n, null, 840)]);
  t.same(
    cur.breaks.map((b) => b.kind),
    ['currency_mismatch'],
  );
  const other = matchSettlement({ acquirer: 'a', day: DAY, file: 'f' }, [], [{ ...theirs('9', 'sale', 1n), day: '2026-12-05' }]);
  t.same(
    other.breaks.map((b) => b.kind),
    ['other_day'],
  );
});
