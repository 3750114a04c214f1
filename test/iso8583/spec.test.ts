import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { compileDialect, loadDialect, SPECS_DIR } from '../../src/iso8583/index.js';

const base = () => JSON.parse(readFileSync(`${SPECS_DIR}/iso87-ascii.json`, 'utf8')) as Record<string, any>;

t.test('every spec in specs/ loads and obeys spec.schema.json', async (t) => {
  const names = readdirSync(SPECS_DIR)
    .filter((f) => f.endsWith('.json') && f !== 'spec.schema.json')
    .map((f) => f.replace(/\.json$/, ''));
  t.ok(names.length >= 4);
  for (const n of names) t.equal(loadDialect(n).name, n);
});

t.test('a bad spec is refused and names the field that is wrong', async (t) => {
  const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
    [
      'unknown encoding',
      (s) => {
        s.fields['4'].encoding = 'utf16';
      },
      /fields\.4\.encoding/,
    ],
    [
      'unknown key',
      (s) => {
        s.fields['11'].lenght = 6;
      },
      /fields\.11.*lenght/,
    ],
    [
      'negative length',
      (s) => {
        s.fields['2'].length = -1;
      },
      /fields\.2\.length/,
    ],
    [
      'alpha in BCD',
      (s) => {
        s.fields['41'].encoding = 'bcd';
      },
      /fields\.41/,
    ],
    [
      'unit that does not fit the type',
      (s) => {
        s.fields['3'].unit = 'bytes';
      },
      /fields\.3/,
    ],
    [
      'length beyond the prefix',
      (s) => {
        s.fields['2'].length = 100;
      },
      /fields\.2/,
    ],
    [
      'bitmap field defined',
      (s) => {
        s.fields['65'] = { type: 'b', length: 8, encoding: 'binary' };
      },
      /fields\.65/,
    ],
    [
      'bad TLV tag',
      (s) => {
        s.fields['55'].tags = { '9F': { type: 'b' } };
      },
      /fields\.55\.tags\.9F|fields\.55\.9F/,
    ],
    [
      'missing mti',
      (s) => {
        delete s.mti;
      },
      /mti/,
    ],
  ];
  for (const [name, change, where] of cases) {
    const s = base();
    s.name = 'broken';
    change(s);
    try {
      compileDialect(s);
      t.fail(`${name}: accepted`);
    } catch (e) {
      t.equal((e as { code?: string }).code, 'SW_ERR_SPEC_INVALID', `${name}: SW_ERR_SPEC_INVALID`);
      t.match((e as Error).message, where, `${name}: names the place`);
    }
  }
  t.throws(() => loadDialect('no-such-dialect'), { code: 'SW_ERR_SPEC_NOT_FOUND' });
});
