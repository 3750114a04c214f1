/**
 * The field loop of unpack, with the ASCII text fields read from tables compiled once per dialect from its spec
 * (docs/codec.md, "Speed"). For each such field (no prefix, or an ASCII one) the tables hold its fixed length or
 * prefix digits, its bounds and its character class; the loop checks them inline and cuts the value from the
 * message text, with no call through the field's codec. Any doubt (a bad prefix, a length out of range, a
 * truncated field, a bad character) hands the field to its compiled codec from its first byte, which raises the
 * exact error it always has; fields of other kinds (binary, BCD, EBCDIC, TLV, composite) go to their codec.
 */
import type { FieldSpec } from './codec-types.js';
import { IsoMessage } from './message.js';
import type { Reader } from './buffer.js';
import type { FieldCodec } from './field.js';
import { CHARSET_MASK, CLASS } from './encoding/charset.js';
import { LazyTlv, plainTlv, type TlvRules } from './tlv.js';

/** Reads the fields the bitmap (`bits`, its first `nBytes`) names, from r.pos on, into a new message. */
export type UnpackFields = (r: Reader, mti: string, bits: Uint8Array, nBytes: number) => IsoMessage;

const PREFIX_DIGITS: Readonly<Record<string, number>> = { fixed: 0, l: 1, ll: 2, lll: 3, llll: 4, lllll: 5, llllll: 6 };

/** The number of bits set in each byte value. */
const BITS_SET = new Uint8Array(256);
for (let i = 1; i < 256; i++) BITS_SET[i] = (i & 1) + BITS_SET[i >> 1]!;

/** How a field is read: by its codec, or inline as fixed or prefixed ASCII text. */
const BY_CODEC = 0;
const FIXED = 1;
const PREFIXED = 2;
/** The character check: by range (digits, printable, track 2) or by the class table. */
const DIGITS = 0;
const PRINTABLE = 1;
const TRACK2 = 2;
const TABLE = 3;
/** Not text: binary BER-TLV (DE55), checked by plainTlv and kept as a LazyTlv cut from the message text. */
const TLV = 4;

/**
 * The loop over the bitmap's fields. `asText`: the codec reads each message as text (Reader.text is set), so ASCII
 * text fields can be cut from it inline; without it every field goes to its codec. `unknown(n, offset)` raises
 * the error of a field the dialect does not define.
 */
export function compileUnpackFields(
  specs: ReadonlyArray<FieldSpec | undefined>,
  codecs: ReadonlyArray<FieldCodec | undefined>,
  asText: boolean,
  unknown: (n: number, offset: number) => never,
): UnpackFields {
  const size = specs.length;
  const how = new Uint8Array(size);
  const length = new Int32Array(size); // fixed: the length; prefixed: the maximum
  const digits = new Uint8Array(size);
  const minLength = new Int32Array(size);
  const check = new Uint8Array(size);
  const mask = new Uint8Array(size);
  const rules: (TlvRules | undefined)[] = new Array(size).fill(undefined);
  const paths: string[] = new Array(size).fill('');
  for (let n = 2; n < size; n++) {
    const spec = specs[n];
    const lazyTlv = codecs[n]?.lazyTlvRules;
    if (asText && spec !== undefined && lazyTlv !== undefined) {
      const d = PREFIX_DIGITS[spec.prefix?.kind ?? 'fixed'];
      if (d === undefined || d === 0 || (spec.prefix?.encoding ?? 'ascii') !== 'ascii') continue;
      how[n] = PREFIXED;
      length[n] = spec.length;
      digits[n] = d;
      minLength[n] = spec.minLength ?? 0;
      check[n] = TLV;
      rules[n] = lazyTlv;
      paths[n] = codecs[n]!.path;
      continue;
    }
    if (!asText || spec === undefined || spec.encoding !== 'ascii') continue;
    const t = spec.type;
    if (!(t === 'n' || t === 'a' || t === 'an' || t === 'ans' || t === 'ns' || t === 'z')) continue;
    const d = PREFIX_DIGITS[spec.prefix?.kind ?? 'fixed'];
    if (d === undefined || (d > 0 && (spec.prefix?.encoding ?? 'ascii') !== 'ascii')) continue;
    how[n] = d === 0 ? FIXED : PREFIXED;
    length[n] = spec.length;
    digits[n] = d;
    minLength[n] = d === 0 ? spec.length : (spec.minLength ?? 0);
    check[n] = t === 'n' ? DIGITS : t === 'ans' ? PRINTABLE : t === 'z' ? TRACK2 : TABLE;
    mask[n] = CHARSET_MASK[t];
  }

  /**
   * True when buf[from, to) is all of the field's class. Digits and printable ASCII, most of a message, are checked
   * four bytes to a branch; the rest a byte at a time.
   */
  const valid = (buf: Buffer, from: number, to: number, c: number, m: number): boolean => {
    let i = from;
    if (c === DIGITS) {
      for (; i + 4 <= to; i += 4) {
        if ((buf[i]! - 0x30) >>> 0 > 9 || (buf[i + 1]! - 0x30) >>> 0 > 9 || (buf[i + 2]! - 0x30) >>> 0 > 9 || (buf[i + 3]! - 0x30) >>> 0 > 9) return false;
      }
      for (; i < to; i++) if ((buf[i]! - 0x30) >>> 0 > 9) return false;
      return true;
    }
    if (c === PRINTABLE) {
      for (; i + 4 <= to; i += 4) {
        if ((buf[i]! - 0x20) >>> 0 > 0x5e || (buf[i + 1]! - 0x20) >>> 0 > 0x5e || (buf[i + 2]! - 0x20) >>> 0 > 0x5e || (buf[i + 3]! - 0x20) >>> 0 > 0x5e)
          return false;
      }
      for (; i < to; i++) if ((buf[i]! - 0x20) >>> 0 > 0x5e) return false;
      return true;
    }
    if (c === TRACK2) {
      for (; i < to; i++) {
        const b = buf[i]!;
        if ((b - 0x30) >>> 0 > 9 && b !== 0x3d && b !== 0x44) return false;
      }
      return true;
    }
    for (; i < to; i++) if ((CLASS[buf[i]!]! & m) === 0) return false;
    return true;
  };

  return (r, mti, bits, nBytes) => {
    let count = 0;
    for (let byte = 0; byte < nBytes; byte++) count += BITS_SET[byte === 0 || byte === 8 ? bits[byte]! & 0x7f : bits[byte]!]!;
    const msg = IsoMessage._decoded(mti, count);
    const nums = msg._n;
    const vals = msg._v;
    let k = 0;
    const buf = r.buf;
    const text = r.text as string; // read only for inline fields, which exist only when asText
    const end = r.end;
    let pos = r.pos;
    for (let byte = 0; byte < nBytes; byte++) {
      let b = bits[byte]!;
      if (byte === 0 || byte === 8) b &= 0x7f;
      while (b !== 0) {
        const bit = Math.clz32(b) - 24;
        b &= ~(0x80 >> bit);
        const n = byte * 8 + bit + 1;
        const h = n < size ? how[n]! : BY_CODEC;
        if (h !== BY_CODEC) {
          let start = pos;
          let len = length[n]!;
          let ok = true;
          if (h === PREFIXED) {
            const d = digits[n]!;
            if (end - pos < d) ok = false;
            else {
              len = 0;
              for (let i = pos; i < pos + d; i++) {
                const x = buf[i]! - 0x30;
                if (x < 0 || x > 9) ok = false;
                len = len * 10 + x;
              }
              start = pos + d;
              if (len > length[n]! || len < minLength[n]!) ok = false;
            }
          }
          if (ok && end - start >= len) {
            const c = check[n]!;
            if (c !== TLV) {
              if (valid(buf, start, start + len, c, mask[n]!)) {
                nums[k] = n;
                vals[k++] = text.substring(start, start + len);
                pos = start + len;
                continue;
              }
            } else if (plainTlv(buf, start, start + len, rules[n]!)) {
              nums[k] = n;
              vals[k++] = new LazyTlv(text.substring(start, start + len), false, rules[n]!, 0, paths[n]!);
              pos = start + len;
              continue;
            }
          }
        }
        const f = codecs[n];
        if (f === undefined) unknown(n, pos);
        r.pos = pos;
        nums[k] = n;
        vals[k++] = f.unpack(r);
        pos = r.pos;
      }
    }
    r.pos = pos;
    return msg;
  };
}
