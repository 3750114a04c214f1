import t, { type Test } from 'tap';
import { loadDialect, compileDialect, IsoMessage, CodecError, type DialectSpec } from '../../src/iso8583/index.js';
import { isSwitchError } from '../../src/errors.js';
import { realistic0100 } from '../../bench/fixtures.js';

const codec = loadDialect('iso87-ascii-bbitmap');
const good = codec.pack(realistic0100());
const PAN = '4761739001010119';

function expectCodecError(t: Test, fn: () => unknown, code: string, field?: string, offset?: number): void {
  try {
    fn();
    t.fail(`expected ${code}`);
  } catch (e) {
    t.ok(e instanceof CodecError, 'a CodecError');
    const err = e as CodecError;
    t.equal(err.code, code, `code ${code}`);
    if (field !== undefined) t.equal(err.field, field, `names field ${field}`);
    if (offset !== undefined) t.equal(err.offset, offset, `names offset ${offset}`);
    t.notMatch(err.message, PAN, 'message carries no PAN');
    t.notMatch(JSON.stringify(err.params), PAN, 'params carry no PAN');
  }
}

t.test('truncated messages name the field and offset', async (t) => {
  expectCodecError(t, () => codec.unpack(good.subarray(0, 2)), 'SW_ERR_CODEC_TRUNCATED', '0', 0);
  expectCodecError(t, () => codec.unpack(good.subarray(0, 8)), 'SW_ERR_CODEC_TRUNCATED', '1', 4);
  // MTI 4 + bitmap 8 + LL "16" + 10 digits of the PAN: the PAN is cut.
  expectCodecError(t, () => codec.unpack(good.subarray(0, 4 + 8 + 2 + 10)), 'SW_ERR_CODEC_TRUNCATED', '2', 14);
  for (let cut = 0; cut < good.length; cut++) {
    try {
      codec.unpack(good.subarray(0, cut));
      t.fail(`a message cut at ${cut} must not unpack`);
    } catch (e) {
      if (!isSwitchError(e)) throw e;
    }
  }
});

t.test('trailing bytes, oversized input, bad MTI, bad bitmap', async (t) => {
  expectCodecError(t, () => codec.unpack(Buffer.concat([good, Buffer.from('XY')])), 'SW_ERR_CODEC_TRAILING_BYTES', '0', good.length);
  expectCodecError(t, () => codec.unpack(Buffer.alloc(70000)), 'SW_ERR_CODEC_OVERSIZED', '0');
  expectCodecError(t, () => codec.unpack(Buffer.from('01X0' + '\0'.repeat(8))), 'SW_ERR_CODEC_BAD_MTI', '0');
  const hexCodec = loadDialect('iso87-ascii');
  expectCodecError(t, () => hexCodec.unpack(Buffer.from('0800ZZ20000000000000')), 'SW_ERR_CODEC_BAD_BITMAP', '1', 4);
  const small = compileDialect({
    name: 'small',
    mti: { encoding: 'ascii' },
    bitmap: { encoding: 'binary', maxFields: 64 },
    fields: { 3: { type: 'n', length: 6, encoding: 'ascii' } },
  });
  expectCodecError(t, () => small.unpack(Buffer.concat([Buffer.from('0800'), Buffer.from('8000000000000000', 'hex')])), 'SW_ERR_CODEC_BAD_BITMAP', '1');
  expectCodecError(
    t,
    () => small.unpack(Buffer.concat([Buffer.from('0800'), Buffer.from('1000000000000000', 'hex'), Buffer.from('000000')])),
    'SW_ERR_CODEC_UNKNOWN_FIELD',
    '4',
  );
});

t.test('wrong lengths and bad characters', async (t) => {
  // LL prefix "25" for the PAN exceeds its maximum of 19 digits.
  const badLen = Buffer.from(good);
  badLen.write('25', 12, 'latin1');
  expectCodecError(t, () => codec.unpack(badLen), 'SW_ERR_CODEC_BAD_LENGTH', '2', 12);
  const badPrefix = Buffer.from(good);
  badPrefix.write('1A', 12, 'latin1');
  expectCodecError(t, () => codec.unpack(badPrefix), 'SW_ERR_CODEC_BAD_LENGTH_PREFIX', '2', 12);
  const badDigit = Buffer.from(good);
  badDigit.write('X', 14 + 5, 'latin1');
  expectCodecError(t, () => codec.unpack(badDigit), 'SW_ERR_CODEC_BAD_CHARSET', '2', 19);
  const bin = loadDialect('iso87-binary');
  const b = bin.pack(new IsoMessage('0100', { 3: '000000' }));
  b[2 + 8] = 0x0a; // first BCD byte of DE3 with a nibble above 9
  expectCodecError(t, () => bin.unpack(b), 'SW_ERR_CODEC_BAD_CHARSET', '3', 10);
});

t.test('pack validates types and lengths', async (t) => {
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 4: '12345678901234' })), 'SW_ERR_CODEC_BAD_LENGTH', '4');
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 4: '12AB' })), 'SW_ERR_CODEC_BAD_CHARSET', '4');
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 2: '123' })), 'SW_ERR_CODEC_BAD_LENGTH', '2');
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 52: 'not bytes' })), 'SW_ERR_CODEC_VALUE_INVALID', '52');
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 52: Buffer.alloc(7) })), 'SW_ERR_CODEC_BAD_LENGTH', '52');
  expectCodecError(t, () => codec.pack(new IsoMessage('01A0', { 3: '000000' })), 'SW_ERR_CODEC_BAD_MTI', '0');
  expectCodecError(t, () => codec.pack(new IsoMessage('', { 3: '000000' })), 'SW_ERR_CODEC_MISSING_MTI', '0');
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 55: [{ tag: '9F02', value: Buffer.alloc(7) }] })), 'SW_ERR_CODEC_BAD_LENGTH', '55.9F02');
  expectCodecError(t, () => codec.pack(new IsoMessage('0100', { 55: [{ tag: '9F', value: Buffer.alloc(1) }] })), 'SW_ERR_CODEC_VALUE_INVALID', '55');
  t.equal(codec.unpack(codec.pack(new IsoMessage('0100', { 4: '5000' }))).get(4), '000000005000', 'short numbers are left-padded with zeros');
  t.equal(codec.unpack(codec.pack(new IsoMessage('0100', { 41: 'T1' }))).get(41), 'T1      ', 'short text is right-padded with spaces');
});

t.test('DE55 TLV: malformed data and the unknown-tag policy', async (t) => {
  const spec = (unknownTags: 'keep' | 'skip' | 'error'): DialectSpec => ({
    name: `tlv-${unknownTags}`,
    mti: { encoding: 'ascii' },
    bitmap: { encoding: 'binary', maxFields: 64 },
    fields: {
      55: {
        type: 'tlv',
        length: 999,
        encoding: 'binary',
        prefix: { kind: 'lll', encoding: 'ascii' },
        tags: { '9F02': { type: 'n', maxBytes: 6 } },
        unknownTags,
      },
    },
  });
  const withUnknown = new IsoMessage('0100', {
    55: [
      { tag: '9F02', value: Buffer.from('000000001000', 'hex') },
      { tag: 'DF01', value: Buffer.from('AB', 'hex') },
    ],
  });
  const keep = compileDialect(spec('keep'));
  const bytes = keep.pack(withUnknown);
  t.same(keep.unpack(bytes).get(55), withUnknown.get(55), 'keep: unknown tags survive');
  const skip = compileDialect(spec('skip'));
  t.same(skip.unpack(bytes).get(55), [{ tag: '9F02', value: Buffer.from('000000001000', 'hex') }], 'skip: unknown tags dropped');
  const strict = compileDialect(spec('error'));
  expectCodecError(t, () => strict.unpack(bytes), 'SW_ERR_CODEC_UNKNOWN_TAG', '55');
  expectCodecError(t, () => strict.pack(withUnknown), 'SW_ERR_CODEC_UNKNOWN_TAG', '55');
  const frame = (tlvHex: string): Buffer =>
    Buffer.concat([
      Buffer.from('0100'),
      Buffer.from('0000000000000200', 'hex'),
      Buffer.from(String(tlvHex.length / 2).padStart(3, '0')),
      Buffer.from(tlvHex, 'hex'),
    ]);
  expectCodecError(t, () => keep.unpack(frame('9F')), 'SW_ERR_CODEC_BAD_TLV', '55');
  expectCodecError(t, () => keep.unpack(frame('9F02')), 'SW_ERR_CODEC_BAD_TLV', '55.9F02');
  expectCodecError(t, () => keep.unpack(frame('9F020600')), 'SW_ERR_CODEC_BAD_TLV', '55.9F02');
  expectCodecError(t, () => keep.unpack(frame('DF018105' + '00'.repeat(5))), 'SW_ERR_CODEC_BAD_TLV', '55.DF01');
  expectCodecError(t, () => keep.unpack(frame('DF0184000000')), 'SW_ERR_CODEC_BAD_TLV', '55.DF01');
  const long = 'DF01820100' + '00'.repeat(256);
  t.equal((keep.unpack(frame(long)).get(55) as { value: Buffer }[])[0]!.value.length, 256, 'two-byte lengths read');
  const mid = 'DF018180' + '00'.repeat(128);
  t.equal((keep.unpack(frame(mid)).get(55) as { value: Buffer }[])[0]!.value.length, 128, 'one-byte 0x81 lengths read');
  t.equal(keep.pack(keep.unpack(frame(mid))).toString('hex'), frame(mid).toString('hex'), 'and written back the same way');
  const multi = '9F7F0101';
  t.equal((keep.unpack(frame(multi)).get(55) as { tag: string }[])[0]!.tag, '9F7F', 'multi-byte tags');
  const threeByte = 'DF810101AA';
  t.equal((keep.unpack(frame(threeByte)).get(55) as { tag: string }[])[0]!.tag, 'DF8101', 'three-byte tags');
});

t.test('errors are typed and safe to log', async (t) => {
  try {
    codec.unpack(Buffer.concat([good, Buffer.from('Z')]));
  } catch (e) {
    t.ok(isSwitchError(e, 'SW_ERR_CODEC_TRAILING_BYTES'));
    t.same(Object.keys((e as CodecError).toJSON()).sort(), ['code', 'message']);
  }
});
