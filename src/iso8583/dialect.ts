import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isAbsolute, join } from 'node:path';
import type { Codec, DialectSpec, FieldSpec } from './codec-types.js';
import { IsoMessage, MAX_FIELD } from './message.js';
import { CodecError } from './errors.js';
import { Writer, type Reader } from './buffer.js';
import { compileField, SpecProblem, type FieldCodec } from './field.js';
import { validateSpecShape } from './spec-schema.js';
import { compileUnpackFields, type UnpackFields } from './unpack-gen.js';
import { SwitchError } from '../errors.js';
import { ASCII_TO_EBCDIC, EBCDIC_TO_ASCII } from './encoding/ebcdic.js';
import { decodeHexInto, writeHex } from './encoding/hex.js';

export const SPECS_DIR = fileURLToPath(new URL('../../specs/', import.meta.url));

const HEX_DIGITS = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_DIGITS[i] = '0123456789ABCDEF'.charCodeAt(i);

/** Compiles a dialect spec (already parsed JSON) into a codec; a bad spec raises SW_ERR_SPEC_INVALID. */
export function compileDialect(input: unknown): Codec {
  const shapeError = validateSpecShape(input);
  const name = typeof (input as { name?: unknown })?.name === 'string' ? (input as { name: string }).name : '(unnamed)';
  if (shapeError) throw new SwitchError('SW_ERR_SPEC_INVALID', { dialect: name, path: shapeError.path, reason: shapeError.reason });
  const spec = input as DialectSpec;
  try {
    return new CompiledCodec(spec);
  } catch (e) {
    if (e instanceof SpecProblem) throw new SwitchError('SW_ERR_SPEC_INVALID', { dialect: spec.name, path: `fields.${e.path}`, reason: e.reason });
    throw e;
  }
}

const cache = new Map<string, Codec>();

/** Loads specs/<name>.json (or a path to a JSON spec), validates and compiles it; cached by name. */
export function loadDialect(nameOrPath: string): Codec {
  const hit = cache.get(nameOrPath);
  if (hit) return hit;
  const file = nameOrPath.endsWith('.json') || isAbsolute(nameOrPath) ? nameOrPath : join(SPECS_DIR, `${nameOrPath}.json`);
  if (!existsSync(file)) throw new SwitchError('SW_ERR_SPEC_NOT_FOUND', { dialect: nameOrPath });
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SwitchError('SW_ERR_SPEC_INVALID', { dialect: nameOrPath, path: '(file)', reason: 'not valid JSON' }, { cause: e });
  }
  const codec = compileDialect(parsed);
  cache.set(nameOrPath, codec);
  return codec;
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

class CompiledCodec implements Codec {
  readonly name: string;
  readonly spec: DialectSpec;
  private readonly fields: (FieldCodec | undefined)[] = new Array(MAX_FIELD + 1);
  private readonly maxFields: number;
  private readonly maxBytes: number;
  private readonly mtiEncoding: 'ascii' | 'bcd' | 'ebcdic';
  private readonly bitmapEncoding: 'binary' | 'hex' | 'ebcdic-hex';
  private readonly writer = new Writer(8192);
  private readonly bits = new Uint8Array(24);
  /** Some field is ASCII text: unpack reads the message as one latin1 string and cuts those fields from it. */
  private readonly textFields: boolean;
  /** The field loop, with its tables compiled from the spec (docs/codec.md, "Speed"). */
  private readonly unpackFields: UnpackFields;

  constructor(spec: DialectSpec) {
    this.name = spec.name;
    this.spec = spec;
    this.maxFields = spec.bitmap.maxFields ?? 128;
    this.maxBytes = spec.maxMessageBytes ?? 65535;
    this.mtiEncoding = spec.mti.encoding;
    this.bitmapEncoding = spec.bitmap.encoding;
    for (const [k, fs] of Object.entries(spec.fields)) {
      const n = Number(k);
      if (!Number.isInteger(n) || n < 2 || n > this.maxFields || n === 65 || String(n) !== k) {
        throw new SpecProblem(k, `field number must be 2..${this.maxFields} and not a bitmap (1, 65)`);
      }
      this.fields[n] = compileField(fs as FieldSpec, k, spec.name, true);
    }
    this.textFields = Object.values(spec.fields).some((f) => f.encoding === 'ascii');
    const specs: (FieldSpec | undefined)[] = new Array(MAX_FIELD + 1);
    for (const [k, fs] of Object.entries(spec.fields)) specs[Number(k)] = fs as FieldSpec;
    this.unpackFields = compileUnpackFields(specs, this.fields, this.textFields, (n, offset) => {
      throw new CodecError('SW_ERR_CODEC_UNKNOWN_FIELD', String(n), offset, { dialect: this.name });
    });
  }

  pack(msg: IsoMessage): Buffer {
    const w = this.writer;
    w.pos = 0;
    const mti = msg.mti;
    if (typeof mti !== 'string' || mti.length === 0) throw new CodecError('SW_ERR_CODEC_MISSING_MTI', '0', 0);
    if (mti.length !== 4 || !isDigit(mti, 0) || !isDigit(mti, 1) || !isDigit(mti, 2) || !isDigit(mti, 3)) throw new CodecError('SW_ERR_CODEC_BAD_MTI', '0', 0);
    w.ensure(4 + 48);
    const buf = w.buf;
    if (this.mtiEncoding === 'bcd') {
      buf[0] = ((mti.charCodeAt(0) - 48) << 4) | (mti.charCodeAt(1) - 48);
      buf[1] = ((mti.charCodeAt(2) - 48) << 4) | (mti.charCodeAt(3) - 48);
      w.pos = 2;
    } else if (this.mtiEncoding === 'ebcdic') {
      for (let i = 0; i < 4; i++) buf[i] = ASCII_TO_EBCDIC[mti.charCodeAt(i)]!;
      w.pos = 4;
    } else {
      buf.latin1Write(mti, 0);
      w.pos = 4;
    }
    const nums = msg._n;
    const vals = msg._v;
    const count = nums.length;
    const bits = this.bits;
    bits.fill(0);
    for (let k = 0; k < count; k++) {
      const i = nums[k]!;
      if (this.fields[i] === undefined) throw new CodecError('SW_ERR_CODEC_UNKNOWN_FIELD', String(i), w.pos, { dialect: this.name });
      bits[(i - 1) >> 3]! |= 0x80 >> ((i - 1) & 7);
    }
    const highest = count > 0 ? nums[count - 1]! : 0;
    const nBitmaps = highest > 128 ? 3 : highest > 64 ? 2 : 1;
    if (nBitmaps >= 2) bits[0]! |= 0x80;
    if (nBitmaps === 3) bits[8]! |= 0x80;
    const bmBytes = nBitmaps * 8;
    if (this.bitmapEncoding === 'binary') {
      for (let i = 0; i < bmBytes; i++) w.buf[w.pos + i] = bits[i]!;
      w.pos += bmBytes;
    } else {
      w.ensure(bmBytes * 2);
      const start = w.pos;
      w.pos = writeHex(w.buf, w.pos, bits, 0, bmBytes);
      if (this.bitmapEncoding === 'ebcdic-hex') for (let i = start; i < w.pos; i++) w.buf[i] = ASCII_TO_EBCDIC[w.buf[i]!]!;
    }
    for (let k = 0; k < count; k++) this.fields[nums[k]!]!.pack(w, vals[k]!);
    if (w.pos > this.maxBytes) throw new CodecError('SW_ERR_CODEC_OVERSIZED', '0', 0, { length: w.pos, max: this.maxBytes });
    return w.take();
  }

  unpack(bytes: Buffer): IsoMessage {
    if (bytes.length > this.maxBytes) throw new CodecError('SW_ERR_CODEC_OVERSIZED', '0', 0, { length: bytes.length, max: this.maxBytes });
    const r: Reader = { buf: bytes, pos: 0, end: bytes.length, text: this.textFields ? bytes.latin1Slice(0, bytes.length) : null };
    const mti = this.readMti(r);
    const bits = this.bits;
    this.readBitmap(r, bits, 0, '1');
    let nBitmaps = 1;
    if (bits[0]! & 0x80) {
      if (this.maxFields < 128) throw new CodecError('SW_ERR_CODEC_BAD_BITMAP', '1', r.pos, { reason: 'secondary bitmap not allowed' });
      this.readBitmap(r, bits, 8, '1');
      nBitmaps = 2;
      if (bits[8]! & 0x80) {
        if (this.maxFields < 192) throw new CodecError('SW_ERR_CODEC_BAD_BITMAP', '65', r.pos, { reason: 'tertiary bitmap not allowed' });
        this.readBitmap(r, bits, 16, '65');
        nBitmaps = 3;
      }
    }
    const nBytes = nBitmaps * 8;
    const msg = this.unpackFields(r, mti, bits, nBytes);
    if (r.pos !== r.end) throw new CodecError('SW_ERR_CODEC_TRAILING_BYTES', '0', r.pos, { count: r.end - r.pos });
    return msg;
  }

  private readMti(r: Reader): string {
    const need = this.mtiEncoding === 'bcd' ? 2 : 4;
    if (r.end < need) throw new CodecError('SW_ERR_CODEC_TRUNCATED', '0', 0, { need: need - r.end, have: r.end });
    const b = r.buf;
    let mti: string;
    if (this.mtiEncoding === 'bcd') {
      const n = [b[0]! >> 4, b[0]! & 15, b[1]! >> 4, b[1]! & 15];
      if (n.some((d) => d > 9)) throw new CodecError('SW_ERR_CODEC_BAD_MTI', '0', 0);
      mti = n.join('');
    } else if (r.text !== null && this.mtiEncoding === 'ascii') {
      mti = r.text.substring(0, 4);
      for (let i = 0; i < 4; i++) if ((b[i]! - 0x30) >>> 0 > 9) throw new CodecError('SW_ERR_CODEC_BAD_MTI', '0', 0);
    } else {
      mti = '';
      for (let i = 0; i < 4; i++) {
        const c = this.mtiEncoding === 'ebcdic' ? EBCDIC_TO_ASCII[b[i]!]! : b[i]!;
        if (c < 0x30 || c > 0x39) throw new CodecError('SW_ERR_CODEC_BAD_MTI', '0', 0);
        mti += String.fromCharCode(c);
      }
    }
    r.pos = need;
    return mti;
  }

  private readBitmap(r: Reader, bits: Uint8Array, at: number, field: string): void {
    const binary = this.bitmapEncoding === 'binary';
    const size = binary ? 8 : 16;
    if (r.end - r.pos < size) throw new CodecError('SW_ERR_CODEC_TRUNCATED', field, r.pos, { need: size - (r.end - r.pos), have: r.end - r.pos });
    if (binary) {
      for (let i = 0; i < 8; i++) bits[at + i] = r.buf[r.pos + i]!;
    } else {
      let src: Uint8Array = r.buf;
      let off = r.pos;
      if (this.bitmapEncoding === 'ebcdic-hex') {
        src = new Uint8Array(16);
        for (let i = 0; i < 16; i++) src[i] = EBCDIC_TO_ASCII[r.buf[r.pos + i]!]!;
        off = 0;
      }
      const out = bits.subarray(at, at + 8);
      if (decodeHexInto(src, off, 8, out) >= 0) throw new CodecError('SW_ERR_CODEC_BAD_BITMAP', field, r.pos, { reason: 'not hexadecimal' });
    }
    r.pos += size;
  }
}
