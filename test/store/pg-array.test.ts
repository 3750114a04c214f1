/**
 * Array and record-array literals (src/store/pg-array.ts) read back by real PostgreSQL: every awkward text
 * (quotes, backslashes, separators, parentheses, whitespace, the empty string, the word NULL) comes back as
 * it went in, and null as null.
 */
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { pgArray, pgRecords } from '../../src/store/pg-array.js';

const AWKWARD = ['plain', '', 'a"b', 'a\\b', '\\"', 'a,b', '{x}', '(x)', ' lead', 'trail ', 'tab\there', 'line\nbreak', 'NULL', 'é€', '""'];

t.test('pgArray: text[] and bigint[] round trip', async (t) => {
  const db = await testDb(t);
  const texts: Array<string | null> = [...AWKWARD, null];
  const { rows } = await db.pool.query<{ v: string | null }>('select unnest($1::text[]) as v', [pgArray(texts, (x) => x)]);
  t.same(
    rows.map((r) => r.v),
    texts,
  );
  const nums = [0n, -1n, 9_007_199_254_740_993n, null];
  const { rows: n } = await db.pool.query<{ v: string | null }>('select unnest($1::bigint[])::text as v', [pgArray(nums, (x) => x)]);
  t.same(
    n.map((r) => r.v),
    ['0', '-1', '9007199254740993', null],
  );
  const { rows: e } = await db.pool.query<{ n: number }>('select cardinality($1::text[]) as n', [pgArray([], (x: string) => x)]);
  t.equal(e[0]!.n, 0, 'no items: an empty array');
});

t.test('pgRecords: a composite array, one parameter, round trip', async (t) => {
  const db = await testDb(t);
  await db.pool.query('create type pg_array_rec as (s text, n bigint, b boolean, u text)');
  const items = AWKWARD.map((s, i) => ({ s, n: BigInt(i) - 3n, b: i % 2 === 0, u: i % 3 === 0 ? null : s }));
  const { rows } = await db.pool.query<{ s: string | null; n: string; b: boolean; u: string | null }>(
    'select s, n::text, b, u from unnest($1::pg_array_rec[])',
    [pgRecords(items, [(x) => x.s, (x) => x.n, (x) => x.b, (x) => x.u])],
  );
  t.same(
    rows,
    items.map((x) => ({ s: x.s, n: String(x.n), b: x.b, u: x.u })),
  );
});
