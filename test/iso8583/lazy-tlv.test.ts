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
    [
      'a value that runs past the field',
      (b) => {
        b[at + 2] = 0x7f;
      },
      'SW_ERR_CODEC_BAD_TLV',
    ],
    [
      'a length not minimally encoded',
      (b) => {
        b[at + 2] = 0x81;
      },
      'SW_ERR_CODEC_BAD_TLV',
    ],
    [
      'a known tag over its maximum length',
      (b) => {
        b[at + 1] = 0x36;
        b[at + 2] = 0x08;
      },
      'SW_ERR_CODEC_BAD_LENGTH',
    ], // 9F36 is 2 bytes at most
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
    name: 'lazy-skip',
    mti: { encoding: 'ascii' },
    bitmap: { encoding: 'binary' },
    fields: {
      55: {
        type: 'tlv',
        length: 999,
        encoding: 'binary',
        prefix: { kind: 'lll', encoding: 'ascii' },
        tags: { '9F02': { type: 'n', maxBytes: 6 } },
        unknownTags: 'skip',
      },
    },
  };
  const keep = compileDialect({ ...spec, name: 'lazy-keep', fields: { 55: { ...spec.fields['55']!, unknownTags: 'keep' } } });
  const skip = compileDialect(spec);
  const { IsoMessage } = await import('../../src/iso8583/index.js');
  const bytes = keep.pack(
    new IsoMessage('0100', {
      55: [
        { tag: '9F02', value: Buffer.from('000000001000', 'hex') },
        { tag: '9F7C', value: Buffer.from('01', 'hex') },
      ],
    }),
  );
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
      case 'n':
        return digit;
      case 'z':
        return digit || c === 0x3d || c === 0x44;
      case 'ans':
        return c >= 0x20 && c <= 0x7e;
      case 'a':
        return letter || c === 0x20;
      case 'an':
        return letter || digit || c === 0x20;
      case 'ns':
        return !letter && c >= 0x20 && c <= 0x7e;
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

t.test('the quick DE55 check (plainTlv) passes only what the full walk passes, and passes a terminal’s DE55', async (t) => {
  const { plainTlv, readTlv, tlvRules, writeTlv } = await import('../../src/iso8583/tlv.js');
  const { Writer } = await import('../../src/iso8583/buffer.js');
  const { rng } = await import('../helpers/fuzz-engine.js');
  const tags = {
    '9F02': { type: 'n' as const, maxBytes: 6 },
    '9A': { type: 'n' as const, maxBytes: 3 },
    '5F2A': { type: 'n' as const, maxBytes: 2 },
    '9F26': { type: 'b' as const, maxBytes: 8 },
  };
  const w = new Writer(512);
  const good = emvTags()
    .slice(0, 4)
    .concat([{ tag: '9F1E', value: Buffer.alloc(200, 0x41) }]); // 0x81 0xC8 length
  const next = rng(55);
  const below = (n: number): number => next() % n;
  let quick = 0;
  let wrong = 0;
  let walked = 0;
  for (const unknown of ['keep', 'skip', 'error'] as const) {
    const rules = tlvRules(tags, unknown, 'prop');
    const keepRules = tlvRules(tags, 'keep', 'prop');
    w.pos = 0;
    const n = writeTlv(w, good, keepRules, '55');
    const base = Buffer.from(w.buf.subarray(0, n));
    if (unknown === 'keep') t.ok(plainTlv(base, 0, base.length, rules), 'a terminal’s DE55 takes the quick path');
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.from(base);
      // one to three bytes changed at random, sometimes cut short: most cases are near-misses of a good field
      for (let k = 1 + below(3); k > 0; k--) b[below(b.length)] = below(256);
      const end = below(5) === 0 ? below(b.length) : b.length;
      let full: number | null;
      try {
        full = readTlv(b, 0, end, rules, '55', 0, 1).length;
      } catch {
        full = null;
      }
      if (plainTlv(b, 0, end, rules)) {
        quick++;
        if (full === null) wrong++;
      } else walked++;
    }
  }
  t.equal(wrong, 0, 'no field the walk refuses passes the quick check');
  t.ok(quick > 1000 && walked > 1000, `both outcomes were exercised (quick ${quick}, walked ${walked})`);
});

t.test('writeTlv remembers tags by position, and a list in another order or with a bad tag is still judged afresh', async (t) => {
  const { tlvRules, writeTlv, readTlv } = await import('../../src/iso8583/tlv.js');
  const { Writer } = await import('../../src/iso8583/buffer.js');
  const rules = tlvRules({ '9A': { type: 'n', maxBytes: 3 }, '9F02': { type: 'n', maxBytes: 6 } }, 'error', 'memo');
  const w = new Writer(64);
  const write = (entries: TlvEntry[]): Buffer => {
    w.pos = 0;
    const n = writeTlv(w, entries, rules, '55');
    return Buffer.from(w.buf.subarray(0, n));
  };
  const a = { tag: '9A', value: Buffer.from('261122', 'hex') };
  const b = { tag: '9F02', value: Buffer.from('000000005000', 'hex') };
  t.equal(write([a, b]).toString('hex'), '9a032611229f0206000000005000');
  t.equal(write([b, a]).toString('hex'), '9f02060000000050009a03261122', 'the other order');
  t.same(readTlv(write([a, b]), 0, 14, rules, '55', 0, 1), [a, b]);
  t.throws(() => write([{ tag: '9a', value: a.value }, b]), { code: 'SW_ERR_CODEC_VALUE_INVALID' }, 'a lower-case tag where 9A was is not 9A');
  t.throws(() => write([{ tag: '009A', value: a.value }, b]), { code: 'SW_ERR_CODEC_VALUE_INVALID' }, '009A is not 9A though it has its number');
  t.throws(() => write([a, { tag: '9F03', value: b.value }]), { code: 'SW_ERR_CODEC_UNKNOWN_TAG' }, 'an unknown tag where 9F02 was');
  t.throws(() => write([a, { tag: '9F02', value: Buffer.alloc(7) }]), { code: 'SW_ERR_CODEC_BAD_LENGTH' }, 'a remembered tag still has its length checked');
  t.equal(write([a, b]).toString('hex'), '9a032611229f0206000000005000', 'and the first list again');
});
