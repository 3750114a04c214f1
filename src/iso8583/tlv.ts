import type { TagSpec } from './codec-types.js';
import type { TlvEntry } from './message.js';
import { CodecError } from './errors.js';
import type { Writer } from './buffer.js';

export type UnknownTagPolicy = 'keep' | 'skip' | 'error';

const tagBytesCache = new Map<string, Buffer | null>();

/** The bytes of a BER-TLV tag given as hex ("9F02"), or null when it is not one well-formed tag. */
export function tagBytes(tag: string): Buffer | null {
  let b = tagBytesCache.get(tag);
  if (b !== undefined) return b;
  b = null;
  if (tag.length >= 2 && tag.length % 2 === 0 && /^[0-9A-F]+$/.test(tag)) {
    const bytes = Buffer.from(tag, 'hex');
    if (tagLength(bytes, 0, bytes.length) === bytes.length) b = bytes;
  }
  if (tagBytesCache.size < 4096) tagBytesCache.set(tag, b);
  return b;
}

/** Length of the BER tag starting at off, or -1 when it runs past end. */
function tagLength(buf: Uint8Array, off: number, end: number): number {
  if (off >= end) return -1;
  if ((buf[off]! & 0x1f) !== 0x1f) return 1;
  let i = off + 1;
  while (i < end) {
    if ((buf[i]! & 0x80) === 0) return i - off + 1;
    if (i - off >= 3) return -1; // tags longer than 4 bytes are not used by EMV
    i++;
  }
  return -1;
}

export interface TlvRules {
  tags: Readonly<Record<string, TagSpec>>;
  unknown: UnknownTagPolicy;
  dialect: string;
}

/** Writes entries as BER-TLV (minimal length encoding); returns the number of bytes written. */
export function writeTlv(w: Writer, entries: readonly TlvEntry[], rules: TlvRules, path: string): number {
  const start = w.pos;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const tb = typeof e?.tag === 'string' ? tagBytes(e.tag) : null;
    if (tb === null) throw new CodecError('SW_ERR_CODEC_VALUE_INVALID', path, w.pos, { reason: `entry ${i} has no valid BER tag` });
    const value = e.value;
    if (!(value instanceof Uint8Array)) {
      throw new CodecError('SW_ERR_CODEC_VALUE_INVALID', `${path}.${e.tag}`, w.pos, { reason: 'TLV value must be bytes' });
    }
    const spec = rules.tags[e.tag];
    if (spec === undefined) {
      if (rules.unknown === 'error') throw new CodecError('SW_ERR_CODEC_UNKNOWN_TAG', path, w.pos, { tag: e.tag, dialect: rules.dialect });
    } else if (spec.maxBytes !== undefined && value.length > spec.maxBytes) {
      throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', `${path}.${e.tag}`, w.pos, { length: value.length, min: 0, max: spec.maxBytes, unit: 'bytes' });
    }
    const n = value.length;
    if (n > 0xffff) throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', `${path}.${e.tag}`, w.pos, { length: n, min: 0, max: 0xffff, unit: 'bytes' });
    w.ensure(tb.length + 3 + n);
    const buf = w.buf;
    let o = w.pos;
    for (let k = 0; k < tb.length; k++) buf[o++] = tb[k]!;
    if (n < 0x80) buf[o++] = n;
    else if (n < 0x100) {
      buf[o++] = 0x81;
      buf[o++] = n;
    } else {
      buf[o++] = 0x82;
      buf[o++] = n >> 8;
      buf[o++] = n & 0xff;
    }
    buf.set(value, o);
    w.pos = o + n;
  }
  return w.pos - start;
}

const HEX = '0123456789ABCDEF';
function hexOf(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[buf[i]! >> 4]! + HEX[buf[i]! & 15]!;
  return s;
}

/**
 * Reads BER-TLV entries from src[start, end). `base` and `scale` map positions to message offsets for
 * error reports (scale 2 when the TLV was hex text on the wire). Lengths must be minimally encoded (1–3
 * bytes), so pack(unpack(bytes)) gives the same bytes back.
 */
export function readTlv(src: Uint8Array, start: number, end: number, rules: TlvRules, path: string, base: number, scale: number): TlvEntry[] {
  const out: TlvEntry[] = [];
  let p = start;
  const at = (q: number): number => base + (q - start) * scale;
  while (p < end) {
    const tl = tagLength(src, p, end);
    if (tl < 0) throw new CodecError('SW_ERR_CODEC_BAD_TLV', path, at(p), { reason: 'tag runs past the field' });
    const tag = hexOf(src, p, p + tl);
    p += tl;
    if (p >= end) throw new CodecError('SW_ERR_CODEC_BAD_TLV', `${path}.${tag}`, at(p), { reason: 'missing length' });
    let n = src[p++]!;
    if (n & 0x80) {
      const k = n & 0x7f;
      if (k === 0 || k > 2) throw new CodecError('SW_ERR_CODEC_BAD_TLV', `${path}.${tag}`, at(p - 1), { reason: 'length of length must be 1 or 2 bytes' });
      if (p + k > end) throw new CodecError('SW_ERR_CODEC_BAD_TLV', `${path}.${tag}`, at(p), { reason: 'length runs past the field' });
      n = k === 1 ? src[p]! : (src[p]! << 8) | src[p + 1]!;
      if ((k === 1 && n < 0x80) || (k === 2 && n < 0x100)) {
        throw new CodecError('SW_ERR_CODEC_BAD_TLV', `${path}.${tag}`, at(p), { reason: 'length is not minimally encoded' });
      }
      p += k;
    }
    if (p + n > end) throw new CodecError('SW_ERR_CODEC_BAD_TLV', `${path}.${tag}`, at(p), { reason: 'value runs past the field' });
    const spec = rules.tags[tag];
    if (spec === undefined) {
      if (rules.unknown === 'error') throw new CodecError('SW_ERR_CODEC_UNKNOWN_TAG', path, at(p), { tag, dialect: rules.dialect });
      if (rules.unknown === 'skip') {
        p += n;
        continue;
      }
    } else if (spec.maxBytes !== undefined && n > spec.maxBytes) {
      throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', `${path}.${tag}`, at(p), { length: n, min: 0, max: spec.maxBytes, unit: 'bytes' });
    }
    out.push({ tag, value: Buffer.from(src.subarray(p, p + n)) });
    p += n;
  }
  return out;
}
