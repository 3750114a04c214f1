/**
 * ISO 8583:1993 (docs/codec.md, "ISO 8583:1993"): the dialect against the standard's table of data elements, and
 * the translation between the switch's 1987 messages and 1993 ones, each way.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { IsoMessage, loadDialect, Iso93Translation, ACTION_CODES, mti87, mti93, type DialectSpec } from '../../src/iso8583/index.js';
import { realistic0100, realistic0110 } from '../../bench/fixtures.js';

/**
 * The data elements of ISO 8583-1:1993 as its table writes them: type, maximum (..) or fixed length, and the
 * length prefix of a variable one. DE1 and DE65 are bitmaps (65 is "reserved for ISO use" in 1993; the codec
 * keeps it as the tertiary bitmap bit, which a 128-field dialect never sets).
 */
const STANDARD: Record<number, string> = {
  2: 'n..19 LL',
  3: 'n6',
  4: 'n12',
  5: 'n12',
  6: 'n12',
  7: 'n10',
  8: 'n8',
  9: 'n8',
  10: 'n8',
  11: 'n6',
  12: 'n12',
  13: 'n4',
  14: 'n4',
  15: 'n6',
  16: 'n4',
  17: 'n4',
  18: 'n4',
  19: 'n3',
  20: 'n3',
  21: 'n3',
  22: 'an12',
  23: 'n3',
  24: 'n3',
  25: 'n4',
  26: 'n4',
  27: 'n1',
  28: 'n6',
  29: 'n3',
  30: 'n24',
  31: 'ans..99 LL',
  32: 'n..11 LL',
  33: 'n..11 LL',
  34: 'ns..28 LL',
  35: 'z..37 LL',
  36: 'z..104 LLL',
  37: 'an12',
  38: 'an6',
  39: 'n3',
  40: 'n3',
  41: 'ans8',
  42: 'ans15',
  43: 'ans..99 LL',
  44: 'ans..99 LL',
  45: 'ans..76 LL',
  46: 'ans..204 LLL',
  47: 'ans..999 LLL',
  48: 'ans..999 LLL',
  49: 'an3',
  50: 'an3',
  51: 'an3',
  52: 'b8',
  53: 'b..48 LL',
  54: 'ans..120 LLL',
  55: 'b..255 LLL',
  56: 'n..35 LL',
  57: 'n3',
  58: 'n..11 LL',
  59: 'ans..999 LLL',
  60: 'ans..999 LLL',
  61: 'ans..999 LLL',
  62: 'ans..999 LLL',
  63: 'ans..999 LLL',
  64: 'b8',
  66: 'ans..204 LLL',
  67: 'n2',
  68: 'n3',
  69: 'n3',
  70: 'n3',
  71: 'n8',
  72: 'ans..999 LLL',
  73: 'n6',
  74: 'n10',
  75: 'n10',
  76: 'n10',
  77: 'n10',
  78: 'n10',
  79: 'n10',
  80: 'n10',
  81: 'n10',
  82: 'n10',
  83: 'n10',
  84: 'n10',
  85: 'n10',
  86: 'n16',
  87: 'n16',
  88: 'n16',
  89: 'n16',
  90: 'n10',
  91: 'n3',
  92: 'n3',
  93: 'n..11 LL',
  94: 'n..11 LL',
  95: 'ans..99 LL',
  96: 'b..999 LLL',
  97: 'xn16',
  98: 'ans25',
  99: 'an..11 LL',
  100: 'n..11 LL',
  101: 'ans..17 LL',
  102: 'ans..28 LL',
  103: 'ans..28 LL',
  104: 'ans..100 LLL',
  105: 'n16',
  106: 'n16',
  107: 'n10',
  108: 'n10',
  109: 'ans..84 LL',
  110: 'ans..84 LL',
  111: 'ans..999 LLL',
  112: 'ans..999 LLL',
  113: 'ans..999 LLL',
  114: 'ans..999 LLL',
  115: 'ans..999 LLL',
  116: 'ans..999 LLL',
  117: 'ans..999 LLL',
  118: 'ans..999 LLL',
  119: 'ans..999 LLL',
  120: 'ans..999 LLL',
  121: 'ans..999 LLL',
  122: 'ans..999 LLL',
  123: 'ans..999 LLL',
  124: 'ans..999 LLL',
  125: 'ans..999 LLL',
  126: 'ans..999 LLL',
  127: 'ans..999 LLL',
  128: 'b8',
};

for (const name of ['iso93-ascii', 'iso93-binary'])
  t.test(`specs/${name}.json defines each data element as the 1993 table does`, async (t) => {
    const spec = JSON.parse(readFileSync(new URL(`../../specs/${name}.json`, import.meta.url), 'utf8')) as DialectSpec;
    t.equal(spec.version, 1993);
    t.same(
      Object.keys(spec.fields)
        .map(Number)
        .sort((a, b) => a - b),
      Object.keys(STANDARD)
        .map(Number)
        .sort((a, b) => a - b),
      'the same data elements, 2-128 but 65',
    );
    for (const [k, want] of Object.entries(STANDARD)) {
      const f = spec.fields[k]!;
      const m = /^(ans|an|ns|n|z|b|xn)(\.\.)?([0-9]+)(?: (LLL|LL))?$/.exec(want)!;
      const type = f.type === 'tlv' ? 'b' : f.type; // DE55: binary in the standard, read as BER-TLV here
      const got = `${type}${f.prefix ? '..' : ''}${f.length}${f.prefix ? ` ${f.prefix.kind.toUpperCase()}` : ''}`;
      t.equal(got, want, `DE${k}`);
      t.ok(m, `DE${k} notation`);
    }
    t.equal(loadDialect(name).spec.fields['39']!.length, 3, 'DE39 is the 3-digit action code');
  });

t.test('MTIs: each 1987 one the switch uses and its 1993 form, both ways', async (t) => {
  const pairs: Array<[string, string]> = [
    ['0100', '1100'],
    ['0110', '1110'],
    ['0101', '1101'],
    ['0200', '1200'],
    ['0210', '1210'],
    ['0220', '1220'],
    ['0221', '1221'],
    ['0230', '1230'],
    ['0400', '1400'],
    ['0401', '1401'],
    ['0410', '1410'],
    ['0420', '1420'],
    ['0421', '1421'],
    ['0430', '1430'],
    ['0800', '1804'],
    ['0801', '1805'],
    ['0810', '1814'],
  ];
  for (const [a, b] of pairs) {
    t.equal(mti93(a), b, `${a} → ${b}`);
    t.equal(mti87(b), a, `${b} → ${a}`);
  }
  t.throws(() => mti93('0500'), { code: 'SW_ERR_CODEC_VERSION' }, 'a class with no 1993 form here is a typed error');
  t.throws(() => mti87('0100'), { code: 'SW_ERR_CODEC_VERSION' }, 'a 1987 MTI read as 1993 is refused');
});

t.test('action codes: the standard map, the class of an unlisted code, an acquirer override, and back', async (t) => {
  const tr = new Iso93Translation({ actionCodes: { '190': '61', '116': '51' } });
  for (const [a, c] of [
    ['000', '00'],
    ['001', '08'],
    ['002', '10'],
    ['100', '05'],
    ['101', '54'],
    ['116', '51'],
    ['117', '55'],
    ['119', '57'],
    ['208', '41'],
    ['209', '43'],
    ['400', '00'],
    ['800', '00'],
    ['904', '30'],
    ['909', '96'],
    ['911', '91'],
    ['913', '94'],
  ]) {
    t.equal(tr.responseCode(a!), c, `${a} is ${c}`);
  }
  t.equal(tr.responseCode('190'), '61', 'the acquirer map wins');
  for (const [a, c] of [
    ['095', '00'],
    ['195', '05'],
    ['295', '04'],
    ['495', '00'],
    ['895', '00'],
    ['995', '96'],
    ['395', '96'],
  ]) {
    t.equal(tr.responseCode(a!), c, `unlisted ${a}: its class gives ${c}`);
  }
  t.throws(() => tr.responseCode('05'), { code: 'SW_ERR_CODEC_VERSION' }, 'a 2-digit DE39 from a 1993 peer is a format error');
  t.equal(tr.actionCode('00', '0110'), '000');
  t.equal(tr.actionCode('00', '0430'), '400', 'a reversal accepted');
  t.equal(tr.actionCode('00', '0810'), '800', 'network management accepted');
  t.equal(tr.actionCode('51', '0110'), '116');
  t.equal(tr.actionCode('91', '0110'), '911');
  t.equal(tr.actionCode('190', '0110'), '190', 'a 3-digit code is already an action code');
  t.throws(() => tr.actionCode('Q9', '0110'), { code: 'SW_ERR_CODEC_VERSION' });
  t.throws(() => new Iso93Translation({ actionCodes: { '19': '61' } }), { code: 'SW_ERR_CODEC_VERSION' }, 'a map entry that is not 3 digits');
  for (const [a, c] of Object.entries(ACTION_CODES)) t.equal(tr.responseCode(tr.actionCode(c, '0110')), c, `${a}: ${c} round-trips through its action code`);
});

t.test('1987 → 1993 → 1987 gives the message back, less the fields 1993 has no place for', async (t) => {
  const tr = new Iso93Translation({ now: () => new Date('2026-11-22T13:14:11Z') });
  const cases: Array<[string, IsoMessage, number[]]> = [
    ['0100', realistic0100(), [25]],
    ['0110', realistic0110(), [25]],
    [
      '0220 completion',
      new IsoMessage('0220', {
        3: '000000',
        4: '000000004000',
        7: '1122131411',
        11: '000124',
        37: '633213000123',
        41: 'TERM0001',
        42: 'MERCHANT0000001',
        49: '978',
        90: '010000012311221314110000000000000000000000',
      }),
      [],
    ],
    [
      '0420 partial',
      new IsoMessage('0420', {
        3: '000000',
        4: '000000005000',
        7: '1122131500',
        11: '000125',
        37: '633213000123',
        41: 'TERM0001',
        42: 'MERCHANT0000001',
        49: '978',
        90: '0100' + '000123' + '1122131411' + '00000012345' + '00000000000',
        95: '000000002000000000000000C00000000C00000000',
      }),
      [],
    ],
    ['0800 echo', new IsoMessage('0800', { 7: '1122131411', 11: '000001', 70: '301' }), []],
    ['0810 sign-on', new IsoMessage('0810', { 7: '1122131411', 11: '000002', 39: '00', 70: '001' }), []],
  ];
  for (const [what, m, lost] of cases) {
    const w = tr.to93(m);
    for (const name of ['iso93-ascii', 'iso93-binary']) {
      const wire = loadDialect(name);
      t.same(wire.unpack(wire.pack(w)).toObject(), w.toObject(), `${what}: the 1993 form packs and unpacks in ${name}`);
    }
    const back = tr.to87(w);
    const want = m.clone();
    for (const f of lost) want.delete(f);
    t.same(back.toObject(), want.toObject(), `${what}: back as it was${lost.length ? ` but DE${lost.join(', ')}` : ''}`);
  }
  const w = tr.to93(realistic0100());
  t.equal(w.get(12), '261122131411', 'DE12: YYMMDDhhmmss');
  t.equal(w.get(24), '100');
  const p = tr.to93(cases[3]![1]);
  t.equal(p.get(24), '401', 'a partial reversal');
  t.equal(p.get(4), '000000002000', 'DE4 is what stands');
  t.equal(p.get(30), '000000005000000000000000', 'DE30 the original amounts');
  t.equal(p.get(56), '11000001232611221314110512345', 'DE56: 1993 MTI, STAN, date and time, LLVAR acquirer id');
});

t.test('the year of a 1987 date is the one that puts it nearest today', async (t) => {
  const at = (iso: string) => new Iso93Translation({ now: () => new Date(iso) });
  const m = (mmdd: string) => new IsoMessage('0100', { 12: '235959', 13: mmdd });
  t.equal(at('2026-12-31T23:00:00Z').to93(m('0101')).get(12), '270101235959', 'a terminal already in the new year');
  t.equal(at('2027-01-01T00:30:00Z').to93(m('1231')).get(12), '261231235959', 'a late one from the old year');
  t.equal(at('2026-06-15T12:00:00Z').to93(m('0615')).get(12), '260615235959');
  t.equal(
    at('2026-06-15T12:00:00Z')
      .to93(new IsoMessage('0100', { 12: '101010' }))
      .get(12),
    '260615101010',
    'no DE13: today',
  );
});

t.test('what 1993 cannot say is a typed error, not a wrong message', async (t) => {
  const tr = new Iso93Translation();
  t.throws(() => tr.to93(new IsoMessage('0800', { 11: '000001', 70: '999' })), { code: 'SW_ERR_CODEC_VERSION' }, 'an unknown network management code');
  t.throws(() => tr.to93(new IsoMessage('0100', { 12: '12000', 13: '1122' })), { code: 'SW_ERR_CODEC_VERSION' }, 'a short DE12');
  t.throws(() => tr.to93(new IsoMessage('0400', { 90: '0100' })), { code: 'SW_ERR_CODEC_VERSION' }, 'a short DE90');
  t.throws(() => tr.to87(new IsoMessage('1110', { 12: '2611221314' })), { code: 'SW_ERR_CODEC_VERSION' }, 'a 1993 DE12 that is not 12 digits');
  t.throws(() => tr.to87(new IsoMessage('1100', { 56: '1100000123' })), { code: 'SW_ERR_CODEC_VERSION' }, 'a short DE56');
  t.throws(() => tr.to87(new IsoMessage('1814', { 24: '899' })), { code: 'SW_ERR_CODEC_VERSION' }, 'a network function code the switch does not read');
});
