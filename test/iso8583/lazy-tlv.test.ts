/**
 * DE55 is checked in full at unpack and split into entries when first read (docs/codec.md, "Speed"). What a caller
 * sees must be what the eager decoder gave: the same entries, the same errors at the same moment (unpack), the
 * same bytes back from pack, and values that are the caller's own.
 */
import t from 'tap';
import { compileDialect, loadDialect, type DialectSpec, type TlvEntry } from '../../src/iso8583/index.js';
import { firstInvalidByte, CHARSET_MASK, type TextType } from '../../src/iso8583/encoding/charset.js';
import { realistic0100, emvTags } from '../../bench/fixtures.js';

const DIALECTS = ['iso87-ascii', 'iso87-ascii-bbitmap', 'iso87-binary', 'iso87-ebcdic', 'iso93-ascii', 'iso93-binary'];

t.test('the entries read back are the entries packed, in every dialect (hex and binary DE55)', async (t) => {
  for (const name of DIALECTS) {
    const codec = loadDialect(name);
    const bytes = codec.pack(realistic0100());
    const m = codec.unpack(bytes);
    t.same(m.get(55), emvTags(), `${name}: entries`);
    t.same(m.toObject()[55], emvTags(), `${name}: toObject`);
    t.equal(codec.pack(codec.unpack(bytes)).toString('hex'), bytes.toString('hex'), `${name}: pack of an unread DE55 gives the bytes back`);
    t.equal(codec.pack(m).toString('hex'), bytes.toString('hex'), `${name}: pack after reading it too`);
  }
});

t.test('a bad DE55 fails at unpack, not later when read', async (t) => {
  const codec = loadDialect('iso87-ascii-bbitmap');
  const good = codec.pack(realistic0100());
  const at = good.indexOf(Buffer.from('9f26', 'hex'));
  t.ok(at > 0, 'found tag 9F26 in the packed message');
  const cases: Array<[string, (b: Buffer) => void, string]> = [
    ['a value that runs past the field', (b) => { b[at + 2] = 0x7f; }, 'SW_ERR_CODEC_BAD_TLV'],
    ['a length not minimally encoded', (b) => { b[at + 2] = 0x81; }, 'SW_ERR_CODEC_BAD_TLV'],
    ['a known tag over its maximum length', (b) => { b[at + 1] = 0x36; b[at + 2] = 0x08; }, 'SW_ERR_CODEC_BAD_LENGTH'], // 9F36 is 2 bytes at most
  ];
  for (const [what, spoil, code] of cases) {
    const bad = Buffer.from(good);
    spoil(bad);
    t.throws(() => codec.unpack(bad), { code }, what);
  }
  const hex = loadDialect('iso87-ascii');
  const packed = hex.pack(realistic0100());
  const i = packed.indexOf(Buffer.from('9F26', 'latin1'));
  const notHex = Buffer.from(packed);
  notHex[i + 2] = 0x47; // 'G'
  t.throws(() => hex.unpack(notHex), { code: 'SW_ERR_CODEC_BAD_CHARSET' }, 'hex DE55 that is not hex');
});

t.test('values are the caller’s own: the input may be reused, and a read entry may be changed', async (t) => {
  const codec = loadDialect('iso87-ascii-bbitmap');
  const input = codec.pack(realistic0100());
  const m = codec.unpack(input);
  const copy = m.clone();
  input.fill(0); // a reader reusing its buffer
  t.same(m.get(55), emvTags(), 'unaffected by the input being overwritten');
  const entries = m.get(55) as TlvEntry[];
  entries[0]!.value[0] = 0x00;
  t.same(copy.get(55), emvTags(), 'a clone made before the read has its own entries');
  t.equal((codec.unpack(codec.pack(m)).get(55) as TlvEntry[])[0]!.value[0], 0x00, 'pack writes the changed entry, not the bytes unpacked');
});

t.test('unknown tags under "skip": dropped from the entries and from a pack', async (t) => {
  const spec: DialectSpec = {
    name: 'lazy-skip', mti: { encoding: 'ascii' }, bitmap: { encoding: 'binary' },
    fields: { 55: { type: 'tlv', length: 999, encoding: 'binary', prefix: { kind: 'lll', encoding: 'ascii' }, tags: { '9F02': { type: 'n', maxBytes: 6 } }, unknownTags: 'skip' } },
  };
  const keep = compileDialect({ ...spec, name: 'lazy-keep', fields: { 55: { ...spec.fields['55']!, unknownTags: 'keep' } } });
  const skip = compileDialect(spec);
  const { IsoMessage } = await import('../../src/iso8583/index.js');
  const bytes = keep.pack(new IsoMessage('0100', { 55: [{ tag: '9F02', value: Buffer.from('000000001000', 'hex') }, { tag: '9F7C', value: Buffer.from('01', 'hex') }] }));
  const once = skip.pack(skip.unpack(bytes));
  t.not(once.toString('hex'), bytes.toString('hex'), 'the unknown tag is not written back');
  t.same(skip.unpack(once).get(55), [{ tag: '9F02', value: Buffer.from('000000001000', 'hex') }]);
});

t.test('the range checks for n, z and ans agree with the character table on every byte', async (t) => {
  // the table the other classes use, rebuilt here from ISO 8583's definitions
  const ok = (type: TextType, c: number): boolean => {
    const digit = c >= 0x30 && c <= 0x39;
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    switch (type) {
      case 'n': return digit;
      case 'z': return digit || c === 0x3d || c === 0x44;
      case 'ans': return c >= 0x20 && c <= 0x7e;
      case 'a': return letter || c === 0x20;
      case 'an': return letter || digit || c === 0x20;
      case 'ns': return !letter && c >= 0x20 && c <= 0x7e;
    }
  };
  for (const type of ['n', 'z', 'ans', 'a', 'an', 'ns'] as const) {
    const wrong: number[] = [];
    for (let c = 0; c < 256; c++) {
      const buf = Buffer.from([0x30, c]); // a valid first byte for every class but a, then the byte under test
      if (type === 'a') buf[0] = 0x41;
      if ((firstInvalidByte(buf, 1, 2, CHARSET_MASK[type]) === -1) !== ok(type, c)) wrong.push(c);
    }
    t.same(wrong, [], `${type}: every byte classed as the standard says`);
  }
});
