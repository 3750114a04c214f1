/** Table tests, one axis at a time: encodings, length prefixes, padding, units. */
import t from 'tap';
import { compileDialect, IsoMessage, type FieldSpec } from '../../src/iso8583/index.js';

/** Packs field 2 alone with the given spec and returns the field's bytes (after MTI and bitmap). */
function fieldBytes(spec: FieldSpec, value: string | Buffer): Buffer {
  const codec = compileDialect({ name: 'table', mti: { encoding: 'ascii' }, bitmap: { encoding: 'binary', maxFields: 64 }, fields: { 2: spec } });
  const bytes = codec.pack(new IsoMessage('0100', { 2: value }));
  const back = codec.unpack(bytes).get(2);
  const padded = typeof value === 'string' && (!spec.prefix || spec.prefix.kind === 'fixed') && value.length < spec.length + (spec.type === 'xn' ? 1 : 0);
  if (typeof value === 'string' && !padded && back !== value && !(spec.type === 'z' && String(back) === value.replace('D', '='))) {
    throw new Error(`round trip changed the value: ${String(back)}`);
  }
  return bytes.subarray(12);
}

const rows: [string, FieldSpec, string | Buffer, string][] = [
  // [name, spec, value, expected field bytes as hex]
  ['n fixed ascii', { type: 'n', length: 6, encoding: 'ascii' }, '000123', '303030313233'],
  ['n fixed ascii pads left with 0', { type: 'n', length: 6, encoding: 'ascii' }, '123', '303030313233'],
  ['n fixed bcd even', { type: 'n', length: 6, encoding: 'bcd' }, '000123', '000123'],
  ['n fixed bcd odd pads left 0', { type: 'n', length: 3, encoding: 'bcd' }, '301', '0301'],
  ['n fixed bcd odd right F', { type: 'n', length: 3, encoding: 'bcd', bcdPad: { side: 'right', nibble: 15 } }, '301', '301f'],
  ['n fixed ebcdic', { type: 'n', length: 3, encoding: 'ebcdic' }, '301', 'f3f0f1'],
  ['n ll ascii', { type: 'n', length: 19, encoding: 'ascii', prefix: { kind: 'll', encoding: 'ascii' } }, '12345', '303531323334' + '35'],
  [
    'n ll bcd prefix counts digits, right pad 0',
    { type: 'n', length: 19, encoding: 'bcd', prefix: { kind: 'll', encoding: 'bcd' }, bcdPad: { side: 'right', nibble: 0 } },
    '12345',
    '05123450',
  ],
  ['n lll bcd prefix is two bytes', { type: 'n', length: 104, encoding: 'bcd', prefix: { kind: 'lll', encoding: 'bcd' } }, '12', '000212'],
  ['n ll binary prefix', { type: 'n', length: 19, encoding: 'ascii', prefix: { kind: 'll', encoding: 'binary' } }, '12345', '05' + '3132333435'],
  ['n lll binary prefix is two bytes', { type: 'n', length: 999, encoding: 'ascii', prefix: { kind: 'lll', encoding: 'binary' } }, '1', '0001' + '31'],
  ['n ll ebcdic prefix', { type: 'n', length: 19, encoding: 'ebcdic', prefix: { kind: 'll', encoding: 'ebcdic' } }, '12', 'f0f2f1f2'],
  ['n l ascii prefix', { type: 'n', length: 9, encoding: 'ascii', prefix: { kind: 'l', encoding: 'ascii' } }, '12', '32' + '3132'],
  ['n llll ascii prefix', { type: 'n', length: 9999, encoding: 'ascii', prefix: { kind: 'llll', encoding: 'ascii' } }, '12', '30303032' + '3132'],
  ['ans lllll ascii prefix', { type: 'ans', length: 99999, encoding: 'ascii', prefix: { kind: 'lllll', encoding: 'ascii' } }, 'A', '3030303031' + '41'],
  [
    'ans llllll bcd prefix is three bytes',
    { type: 'ans', length: 999999, encoding: 'ascii', prefix: { kind: 'llllll', encoding: 'bcd' } },
    'A',
    '000001' + '41',
  ],
  [
    'ans llllll binary prefix is three bytes',
    { type: 'ans', length: 999999, encoding: 'ascii', prefix: { kind: 'llllll', encoding: 'binary' } },
    'AB',
    '000002' + '4142',
  ],
  ['an fixed pads right with spaces', { type: 'an', length: 4, encoding: 'ascii' }, 'AB', '41422020'],
  ['an fixed custom padding', { type: 'an', length: 4, encoding: 'ascii', padding: { side: 'left', char: 'X' } }, 'AB', '58584142'],
  ['ans ebcdic specials', { type: 'ans', length: 5, encoding: 'ebcdic' }, 'a.B/ ', '814bc26140'],
  ['z ascii with =', { type: 'z', length: 37, encoding: 'ascii', prefix: { kind: 'll', encoding: 'ascii' } }, '123=45', '3036' + '3132333d3435'],
  ['z bcd separator D, right pad F', { type: 'z', length: 37, encoding: 'bcd', prefix: { kind: 'll', encoding: 'bcd' } }, '123=4', '05' + '123d4f'],
  ['z bcd accepts D as separator', { type: 'z', length: 37, encoding: 'bcd', prefix: { kind: 'll', encoding: 'bcd' } }, '12D4', '04' + '12d4'],
  ['xn ascii', { type: 'xn', length: 8, encoding: 'ascii' }, 'C00000100', '43' + '3030303030313030'],
  ['xn bcd: sign as ASCII then BCD', { type: 'xn', length: 8, encoding: 'bcd' }, 'D00000100', '44' + '00000100'],
  ['b fixed binary', { type: 'b', length: 4, encoding: 'binary' }, Buffer.from('deadbeef', 'hex'), 'deadbeef'],
  ['b fixed hex text', { type: 'b', length: 4, encoding: 'hex' }, Buffer.from('deadbeef', 'hex'), Buffer.from('DEADBEEF').toString('hex')],
  [
    'b ll hex: prefix counts bytes',
    { type: 'b', length: 8, encoding: 'hex', prefix: { kind: 'll', encoding: 'ascii' } },
    Buffer.from('ab', 'hex'),
    '3031' + '4142',
  ],
  ['b lll binary: bcd prefix', { type: 'b', length: 999, encoding: 'binary', prefix: { kind: 'lll', encoding: 'bcd' } }, Buffer.from('ab', 'hex'), '0001ab'],
  ['n ll hex prefix', { type: 'n', length: 99, encoding: 'ascii', prefix: { kind: 'll', encoding: 'hex' } }, '12', '3032' + '3132'],
];

for (const [name, spec, value, hex] of rows) {
  t.test(name, async (t) => {
    t.equal(fieldBytes(spec, value).toString('hex'), hex);
  });
}

t.test('composite fields: positional subfields with their own prefixes', async (t) => {
  const codec = compileDialect({
    name: 'composite',
    mti: { encoding: 'ascii' },
    bitmap: { encoding: 'binary', maxFields: 64 },
    fields: {
      48: {
        type: 'composite',
        length: 999,
        encoding: 'ascii',
        prefix: { kind: 'lll', encoding: 'ascii' },
        subfields: {
          '1': { type: 'n', length: 2, encoding: 'ascii' },
          '2': { type: 'ans', length: 20, encoding: 'ascii', prefix: { kind: 'll', encoding: 'ascii' } },
          '3': { type: 'b', length: 2, encoding: 'hex' },
        },
      },
    },
  });
  const m = new IsoMessage('0100', { 48: { '1': '07', '2': 'HELLO', '3': Buffer.from('beef', 'hex') } });
  const bytes = codec.pack(m);
  t.equal(bytes.subarray(12).toString('latin1'), '013' + '07' + '05HELLO' + 'BEEF');
  t.same(codec.unpack(bytes).get(48), m.get(48));
  const partial = new IsoMessage('0100', { 48: { '1': '07' } });
  t.same(codec.unpack(codec.pack(partial)).get(48), { '1': '07' }, 'trailing subfields may be left out of a variable composite');
  t.throws(
    () => codec.pack(new IsoMessage('0100', { 48: { '1': '07', '3': Buffer.alloc(2) } })),
    { code: 'SW_ERR_CODEC_VALUE_INVALID' },
    'a gap before a later subfield is refused',
  );
});

t.test('bitmaps: secondary and tertiary set automatically; hex and ebcdic-hex encodings', async (t) => {
  const spec = (enc: 'binary' | 'hex' | 'ebcdic-hex') =>
    compileDialect({
      name: `bm-${enc}`,
      mti: { encoding: 'ascii' },
      bitmap: { encoding: enc, maxFields: 192 },
      fields: {
        3: { type: 'n', length: 1, encoding: 'ascii' },
        70: { type: 'n', length: 1, encoding: 'ascii' },
        130: { type: 'n', length: 1, encoding: 'ascii' },
      },
    });
  const bin = spec('binary');
  t.equal(bin.pack(new IsoMessage('0800', { 3: '1' })).length, 4 + 8 + 1, 'primary only');
  t.equal(bin.pack(new IsoMessage('0800', { 3: '1', 70: '2' })).length, 4 + 16 + 2, 'secondary when a field above 64 is present');
  const three = bin.pack(new IsoMessage('0800', { 3: '1', 130: '3' }));
  t.equal(three.length, 4 + 24 + 2, 'tertiary when a field above 128 is present');
  t.equal(three[4]! & 0x80, 0x80, 'bit 1 announces the secondary bitmap');
  t.equal(three[12]! & 0x80, 0x80, 'bit 65 announces the tertiary bitmap');
  t.same(bin.unpack(three).toObject(), { 0: '0800', 3: '1', 130: '3' });
  const hex = spec('hex').pack(new IsoMessage('0800', { 3: '1', 70: '2' }));
  t.equal(hex.subarray(4, 36).toString('latin1'), 'A0000000000000000400000000000000');
  const eb = spec('ebcdic-hex');
  const ebBytes = eb.pack(new IsoMessage('0800', { 3: '1', 70: '2' }));
  t.equal(ebBytes.subarray(4, 6).toString('hex'), 'c1f0', 'hex digits in EBCDIC');
  t.same(eb.unpack(ebBytes).toObject(), { 0: '0800', 3: '1', 70: '2' });
  t.throws(() => bin.pack(new IsoMessage('0800', { 4: '1' })), { code: 'SW_ERR_CODEC_UNKNOWN_FIELD' });
});

t.test('MTI encodings', async (t) => {
  for (const [enc, hex] of [
    ['ascii', '30313030'],
    ['bcd', '0100'],
    ['ebcdic', 'f0f1f0f0'],
  ] as const) {
    const c = compileDialect({
      name: `mti-${enc}`,
      mti: { encoding: enc },
      bitmap: { encoding: 'binary', maxFields: 64 },
      fields: { 3: { type: 'n', length: 2, encoding: 'ascii' } },
    });
    const b = c.pack(new IsoMessage('0100', { 3: '12' }));
    t.equal(b.subarray(0, hex.length / 2).toString('hex'), hex, enc);
    t.equal(c.unpack(b).mti, '0100');
  }
});
