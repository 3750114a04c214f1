import type { FieldSpec, LengthUnit, PrefixEncoding } from './codec-types.js';
import type { FieldValue, StoredValue, SubfieldValues, TlvEntry } from './message.js';
import { CodecError } from './errors.js';
import { Writer, type Reader } from './buffer.js';
import { compilePrefix, type Prefixer } from './prefix.js';
import { CHARSET_MASK, firstInvalidByte, firstInvalidChar, writeCheckedText, type TextType } from './encoding/charset.js';
import { ASCII_TO_EBCDIC, ebcdicToString } from './encoding/ebcdic.js';
import { readBcd, writeBcd, type BcdPad } from './encoding/bcd.js';
import { decodeHexInto, writeHex } from './encoding/hex.js';
import { latin1 } from './encoding/latin1.js';
import { LazyTlv, checkTlv, readTlv, writeTlv, tagBytes, tlvRules, type TlvRules } from './tlv.js';

/** A field compiled from its spec: an encoder × a length prefixer × a padder, composed once. */
export interface FieldCodec {
  readonly path: string;
  readonly spec: FieldSpec;
  pack(w: Writer, v: StoredValue): void;
  unpack(r: Reader): StoredValue;
  /** A binary tlv field that unpacks to a LazyTlv: the rules it checks by, which the unpack loop uses inline. */
  readonly lazyTlvRules?: TlvRules;
}

/** The body of a field without its length prefix. Lengths are in the field's unit. */
interface Body {
  /** See FieldCodec.lazyTlvRules. */
  lazyTlvRules?: TlvRules;
  /** Writes v at w.pos; returns its length in units. `fixed` is the exact length for fixed fields. */
  write(w: Writer, v: StoredValue, fixed: number): number;
  /** Bytes on the wire for a length in units. */
  wireBytes(units: number): number;
  /** `text`: the whole message as latin1, when the codec read it so (see Reader), else null. */
  read(buf: Buffer, off: number, units: number, bytes: number, text: string | null): StoredValue;
}

/** Throws a spec error; compileField callers wrap it with the dialect name. */
export class SpecProblem extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export function naturalUnit(spec: Pick<FieldSpec, 'type'>): LengthUnit {
  switch (spec.type) {
    case 'n':
    case 'z':
    case 'xn':
      return 'digits';
    case 'b':
    case 'tlv':
    case 'composite':
      return 'bytes';
    default:
      return 'chars';
  }
}

function defaultPrefixEncoding(spec: FieldSpec): PrefixEncoding {
  switch (spec.encoding) {
    case 'hex':
      return 'ascii';
    default:
      return spec.encoding;
  }
}

/**
 * `lazyTlv`: a tlv field unpacks to a LazyTlv (checked in full, split into entries when read). Only top-level
 * fields are lazy: a message's get() is what splits them; subfields of a composite are values of their own.
 */
export function compileField(spec: FieldSpec, path: string, dialect: string, lazyTlv = false): FieldCodec {
  const unit = spec.unit ?? naturalUnit(spec);
  if (unit !== naturalUnit(spec)) throw new SpecProblem(path, `unit ${unit} does not fit type ${spec.type} (expected ${naturalUnit(spec)})`);
  if (!Number.isInteger(spec.length) || spec.length < 0) throw new SpecProblem(path, 'length must be a non-negative integer');
  const prefixer: Prefixer = compilePrefix(spec.prefix?.kind ?? 'fixed', spec.prefix?.encoding ?? defaultPrefixEncoding(spec));
  const fixed = prefixer.digits === 0;
  if (!fixed && spec.length > 10 ** prefixer.digits - 1) throw new SpecProblem(path, `length ${spec.length} does not fit a ${spec.prefix?.kind} prefix`);
  const max = spec.length;
  const min = fixed ? spec.length : (spec.minLength ?? 0);
  const body = compileBody(spec, path, dialect, unit, lazyTlv);
  const asciiPrefix = fixed || prefixer.encoding === 'ascii';
  if (spec.encoding === 'ascii' && asciiPrefix && isPlainText(spec.type)) return asciiTextField(spec, path, prefixer.digits, min, max, unit);

  const tooLong = (offset: number, length: number): never => {
    throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', path, offset, { length, min, max, unit });
  };

  return {
    path,
    spec,
    ...(body.lazyTlvRules !== undefined ? { lazyTlvRules: body.lazyTlvRules } : {}),
    pack(w, v) {
      const start = w.pos;
      if (!fixed) {
        w.ensure(prefixer.size);
        w.pos += prefixer.size;
      }
      const units = body.write(w, v, fixed ? max : -1);
      if (units > max || units < min) tooLong(start, units);
      if (!fixed) prefixer.write(w.buf, start, units);
    },
    unpack(r) {
      const start = r.pos;
      let units = max;
      if (!fixed) {
        units = prefixer.read(r, path);
        if (units > max || units < min) tooLong(start, units);
        r.pos += prefixer.size;
      }
      const bytes = body.wireBytes(units);
      if (r.end - r.pos < bytes) {
        throw new CodecError('SW_ERR_CODEC_TRUNCATED', path, r.pos, { need: bytes - (r.end - r.pos), have: r.end - r.pos });
      }
      const v = body.read(r.buf, r.pos, units, bytes, r.text);
      r.pos += bytes;
      return v;
    },
  };
}

function isPlainText(type: FieldSpec['type']): type is TextType {
  return type === 'n' || type === 'a' || type === 'an' || type === 'ans' || type === 'ns' || type === 'z';
}

/**
 * The commonest field, specialized: ASCII text with no or an ASCII length prefix. Prefix, padding, charset
 * check and copy happen in one closure with no calls through the generic body/prefixer objects; behaviour
 * and errors are the generic path's (the golden, property and fuzz tests cover both).
 */
function asciiTextField(spec: FieldSpec, path: string, digits: number, min: number, max: number, unit: LengthUnit): FieldCodec {
  const mask = CHARSET_MASK[spec.type as TextType];
  const pad = digits === 0 ? padderFor(spec) : null;
  const badLength = (offset: number, length: number): never => {
    throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', path, offset, { length, min, max, unit });
  };
  const truncated = (offset: number, need: number, have: number): never => {
    throw new CodecError('SW_ERR_CODEC_TRUNCATED', path, offset, { need: need - have, have });
  };
  return {
    path,
    spec,
    pack(w, v) {
      if (typeof v !== 'string') valueError(path, w.pos, 'expected text');
      let s = v;
      if (pad !== null && s.length < max) s = pad(s, max);
      const n = s.length;
      if (n > max || n < min) badLength(w.pos, n);
      w.ensure(digits + n);
      const buf = w.buf;
      const start = w.pos;
      for (let i = digits - 1, x = n; i >= 0; i--, x = (x / 10) | 0) buf[start + i] = 0x30 + (x % 10);
      const end = writeCheckedText(buf, start + digits, s, 0, mask);
      if (end < 0) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, start + digits - 1 - end, { type: spec.type });
      w.pos = end;
    },
    unpack(r) {
      const buf = r.buf;
      const start = r.pos;
      let pos = start;
      let n = max;
      if (digits > 0) {
        if (r.end - pos < digits) truncated(pos, digits, r.end - pos);
        n = 0;
        for (let i = 0; i < digits; i++) {
          const c = buf[pos + i]! - 0x30;
          if (c < 0 || c > 9) throw new CodecError('SW_ERR_CODEC_BAD_LENGTH_PREFIX', path, start, { encoding: 'ascii' });
          n = n * 10 + c;
        }
        if (n > max || n < min) badLength(start, n);
        pos += digits;
      }
      if (r.end - pos < n) truncated(pos, n, r.end - pos);
      const bad = firstInvalidByte(buf, pos, pos + n, mask);
      if (bad >= 0) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, pos + bad, { type: spec.type });
      r.pos = pos + n;
      return r.text !== null ? r.text.substring(pos, pos + n) : latin1(buf, pos, n);
    },
  };
}

function valueError(path: string, offset: number, reason: string): never {
  throw new CodecError('SW_ERR_CODEC_VALUE_INVALID', path, offset, { reason });
}

function compileBody(spec: FieldSpec, path: string, dialect: string, unit: LengthUnit, lazyTlv: boolean): Body {
  switch (spec.type) {
    case 'n':
    case 'a':
    case 'an':
    case 'ans':
    case 'ns':
    case 'z':
    case 'xn':
      if (spec.encoding === 'bcd') {
        if (spec.type !== 'n' && spec.type !== 'z' && spec.type !== 'xn') throw new SpecProblem(path, `type ${spec.type} cannot be BCD`);
        return bcdBody(spec, path);
      }
      if (spec.encoding !== 'ascii' && spec.encoding !== 'ebcdic') throw new SpecProblem(path, `type ${spec.type} needs encoding ascii, ebcdic or bcd`);
      return textBody(spec, path);
    case 'b':
      if (spec.encoding !== 'binary' && spec.encoding !== 'hex') throw new SpecProblem(path, 'type b needs encoding binary or hex');
      return binaryBody(spec, path);
    case 'tlv':
      if (spec.encoding !== 'binary' && spec.encoding !== 'hex') throw new SpecProblem(path, 'type tlv needs encoding binary or hex');
      return tlvBody(spec, path, dialect, lazyTlv);
    case 'composite':
      return compositeBody(spec, path, dialect, unit);
    default:
      throw new SpecProblem(path, `unknown type ${String((spec as FieldSpec).type)}`);
  }
}

/** Pads a short fixed-length text value per the spec (numbers left with 0, text right with spaces). */
function padderFor(spec: FieldSpec): ((s: string, len: number) => string) | null {
  const p =
    spec.padding ??
    (spec.type === 'n'
      ? { side: 'left', char: '0' }
      : spec.type === 'a' || spec.type === 'an' || spec.type === 'ans' || spec.type === 'ns'
        ? { side: 'right', char: ' ' }
        : null);
  if (p === null) return null;
  return p.side === 'left' ? (s, len) => s.padStart(len, p.char) : (s, len) => s.padEnd(len, p.char);
}

function textBody(spec: FieldSpec, path: string): Body {
  const ebcdic = spec.encoding === 'ebcdic';
  const isXn = spec.type === 'xn';
  const mask = CHARSET_MASK[(isXn ? 'n' : spec.type) as TextType];
  const pad = padderFor(spec);
  const signOffset = isXn ? 1 : 0;
  const badChar = (offset: number): never => {
    throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, offset, { type: spec.type });
  };
  return {
    write(w, v, fixed) {
      if (typeof v !== 'string') valueError(path, w.pos, 'expected text');
      let s = v;
      if (fixed >= 0 && s.length - signOffset < fixed && pad !== null) s = pad(s, fixed);
      const units = s.length - signOffset;
      if (fixed >= 0 && units !== fixed) return units;
      w.ensure(s.length);
      const buf = w.buf;
      const start = w.pos;
      if (isXn) {
        const c = s.charCodeAt(0);
        if (c !== 0x43 && c !== 0x44) badChar(start);
        buf[start] = c;
      }
      const end = writeCheckedText(buf, start + signOffset, s, signOffset, mask);
      if (end < 0) badChar(start - 1 - end);
      if (ebcdic) for (let i = start; i < end; i++) buf[i] = ASCII_TO_EBCDIC[buf[i]!]!;
      w.pos = end;
      return units;
    },
    wireBytes: (units) => units + signOffset,
    read(buf, off, _units, bytes) {
      if (ebcdic) {
        const s = ebcdicToString(buf, off, off + bytes);
        if (isXn && s[0] !== 'C' && s[0] !== 'D') badChar(off);
        const bad = firstInvalidChar(signOffset ? s.slice(1) : s, mask);
        if (bad >= 0) badChar(off + bad + signOffset);
        return s;
      }
      if (isXn && buf[off] !== 0x43 && buf[off] !== 0x44) badChar(off);
      const bad = firstInvalidByte(buf, off + signOffset, off + bytes, mask);
      if (bad >= 0) badChar(off + signOffset + bad);
      return latin1(buf, off, bytes);
    },
  };
}

function bcdBody(spec: FieldSpec, path: string): Body {
  const isXn = spec.type === 'xn';
  const isZ = spec.type === 'z';
  const pad: BcdPad = spec.bcdPad ?? { side: isZ ? 'right' : 'left', nibble: isZ ? 15 : 0 };
  const padder = spec.type === 'n' ? padderFor(spec) : null;
  const mask = CHARSET_MASK[isZ ? 'z' : 'n'];
  const signOffset = isXn ? 1 : 0;
  return {
    write(w, v, fixed) {
      if (typeof v !== 'string') valueError(path, w.pos, 'expected digits');
      let s = v;
      if (isXn) {
        const c = s.charCodeAt(0);
        if (c !== 0x43 && c !== 0x44) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, w.pos, { type: spec.type });
        s = s.slice(1);
      }
      if (fixed >= 0 && s.length < fixed && padder !== null) s = padder(s, fixed);
      if (fixed >= 0 && s.length !== fixed) return s.length;
      const bad = firstInvalidChar(s, mask);
      if (bad >= 0) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, w.pos, { type: spec.type });
      w.ensure(((s.length + 1) >> 1) + signOffset);
      if (isXn) w.buf[w.pos++] = v.charCodeAt(0);
      w.pos = writeBcd(w.buf, w.pos, s, pad);
      return s.length;
    },
    wireBytes: (units) => ((units + 1) >> 1) + signOffset,
    read(buf, off, units) {
      let sign = '';
      if (isXn) {
        if (buf[off] !== 0x43 && buf[off] !== 0x44) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, off, { type: spec.type });
        sign = buf[off] === 0x43 ? 'C' : 'D';
      }
      const s = readBcd(buf, off + signOffset, units, pad, isZ);
      if (s === null) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, off, { type: spec.type });
      return sign + s;
    },
  };
}

function binaryBody(spec: FieldSpec, path: string): Body {
  const hex = spec.encoding === 'hex';
  return {
    write(w, v, fixed) {
      if (!(v instanceof Uint8Array)) valueError(path, w.pos, 'expected bytes');
      if (fixed >= 0 && v.length !== fixed) return v.length;
      w.ensure(hex ? v.length * 2 : v.length);
      if (hex) w.pos = writeHex(w.buf, w.pos, v);
      else {
        w.buf.set(v, w.pos);
        w.pos += v.length;
      }
      return v.length;
    },
    wireBytes: (units) => (hex ? units * 2 : units),
    read(buf, off, units, bytes) {
      if (!hex) {
        const out = Buffer.allocUnsafe(bytes);
        for (let i = 0; i < bytes; i++) out[i] = buf[off + i]!;
        return out;
      }
      const out = Buffer.allocUnsafe(units);
      const bad = decodeHexInto(buf, off, units, out);
      if (bad >= 0) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, off + bad, { type: 'b (hex)' });
      return out;
    },
  };
}

function tlvBody(spec: FieldSpec, path: string, dialect: string, lazy: boolean): Body {
  const hex = spec.encoding === 'hex';
  for (const tag of Object.keys(spec.tags ?? {})) {
    if (!/^([0-9A-F]{2})+$/.test(tag) || tagBytes(tag) === null) throw new SpecProblem(`${path}.${tag}`, 'tag must be one BER tag in upper-case hex');
  }
  const rules: TlvRules = tlvRules(spec.tags ?? {}, spec.unknownTags ?? 'keep', dialect);
  const scratch = new Writer(512);
  // hex on the wire: the bytes are checked in a buffer decoded into once per message, not one of their own
  const checked = hex && lazy ? Buffer.allocUnsafe(spec.length) : null;
  return {
    ...(lazy && !hex ? { lazyTlvRules: rules } : {}),
    write(w, v) {
      // Unpacked under these very rules (so in this encoding) and nothing skipped: the wire form goes back as it came.
      if (v instanceof LazyTlv && v.rules === rules && v.skipped === 0) {
        w.ensure(v.wire.length);
        w.pos += w.buf.latin1Write(v.wire, w.pos);
        return hex ? v.wire.length >> 1 : v.wire.length;
      }
      const value = v instanceof LazyTlv ? v.entries() : v;
      if (!Array.isArray(value)) valueError(path, w.pos, 'expected a list of TLV entries');
      const entries = value as TlvEntry[];
      if (!hex) return writeTlv(w, entries, rules, path);
      scratch.pos = 0;
      const n = writeTlv(scratch, entries, rules, path);
      w.ensure(n * 2);
      w.pos = writeHex(w.buf, w.pos, scratch.buf, 0, n);
      return n;
    },
    wireBytes: (units) => (hex ? units * 2 : units),
    read(buf, off, units, bytes, text) {
      if (!hex) {
        if (!lazy) return readTlv(buf, off, off + bytes, rules, path, off, 1);
        const skipped = checkTlv(buf, off, off + bytes, rules, path, off, 1);
        return new LazyTlv(text !== null ? text.substring(off, off + bytes) : buf.latin1Slice(off, off + bytes), false, rules, skipped, path);
      }
      const bin = checked ?? Buffer.allocUnsafe(units);
      const bad = decodeHexInto(buf, off, units, bin);
      if (bad >= 0) throw new CodecError('SW_ERR_CODEC_BAD_CHARSET', path, off + bad, { type: 'tlv (hex)' });
      if (!lazy) return readTlv(bin, 0, units, rules, path, off, 2);
      const skipped = checkTlv(bin, 0, units, rules, path, off, 2);
      return new LazyTlv(text !== null ? text.substring(off, off + bytes) : buf.latin1Slice(off, off + bytes), true, rules, skipped, path);
    },
  };
}

function compositeBody(spec: FieldSpec, path: string, dialect: string, unit: LengthUnit): Body {
  const entries = Object.entries(spec.subfields ?? {});
  if (entries.length === 0) throw new SpecProblem(path, 'composite needs subfields');
  if (unit !== 'bytes') throw new SpecProblem(path, 'a composite field counts its length in bytes');
  const subs = entries.map(([id, s]) => ({ id, codec: compileField(s, `${path}.${id}`, dialect), fixed: !s.prefix || s.prefix.kind === 'fixed' }));
  const variable = spec.prefix !== undefined && spec.prefix.kind !== 'fixed';
  return {
    write(w, v) {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) valueError(path, w.pos, 'expected subfield values');
      const values = v as SubfieldValues;
      const start = w.pos;
      let last = subs.length - 1;
      if (variable) while (last >= 0 && values[subs[last]!.id] === undefined) last--;
      for (let i = 0; i <= last; i++) {
        const sub = subs[i]!;
        const sv = values[sub.id];
        if (sv === undefined) valueError(sub.codec.path, w.pos, 'positional subfield missing before a later one');
        sub.codec.pack(w, sv);
      }
      return w.pos - start;
    },
    wireBytes: (units) => units,
    read(buf, off, _units, bytes) {
      const r: Reader = { buf, pos: off, end: off + bytes, text: null };
      const out: SubfieldValues = {};
      // Subfields are compiled eager (lazyTlv false), so each unpacks to a plain value.
      for (let i = 0; i < subs.length && (r.pos < r.end || !variable); i++) out[subs[i]!.id] = subs[i]!.codec.unpack(r) as FieldValue;
      if (r.pos !== r.end) throw new CodecError('SW_ERR_CODEC_TRAILING_BYTES', path, r.pos, { count: r.end - r.pos });
      return out;
    },
  };
}
