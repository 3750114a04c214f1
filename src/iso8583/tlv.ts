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

interface KnownTag {
  tag: string;
  spec: TagSpec;
  bytes: Buffer;
  /** The tag's bytes as a big-endian number (0x9F02), written by shifts rather than copied byte by byte. */
  number: number;
}

export interface TlvRules {
  /** Known tags with their encoded tag bytes, looked up once per entry. */
  tags: ReadonlyMap<string, KnownTag>;
  /** The same, keyed by the tag's bytes as an integer (0x9F02), so decoding builds no string to look up. */
  byNumber: ReadonlyMap<number, KnownTag>;
  /**
   * 1- and 2-byte tags (all of EMV's but a few) by number as an index into `list` plus one (0: unknown): a typed
   * array read per entry instead of a map look-up, in the walk unpack makes over every DE55.
   */
  short: Uint16Array;
  list: readonly KnownTag[];
  /** Per entry of `list` (same index plus one), the most bytes the tag's value may hold (0xffff: no limit). */
  maxBytes: Uint16Array;
  /**
   * What writeTlv found for the tag at each position of the list it last wrote: a terminal writes its tags in the
   * same order every time, so the next list finds each tag here by one comparison (see writeTlv).
   */
  lastTags: string[];
  lastKnown: (KnownTag | undefined)[];
  unknown: UnknownTagPolicy;
  dialect: string;
}

export function tlvRules(tags: Readonly<Record<string, TagSpec>>, unknown: UnknownTagPolicy, dialect: string): TlvRules {
  const map = new Map<string, KnownTag>();
  const byNumber = new Map<number, KnownTag>();
  const short = new Uint16Array(65536);
  const list: KnownTag[] = [];
  for (const [tag, spec] of Object.entries(tags)) {
    const bytes = tagBytes(tag);
    if (bytes === null) throw new Error(`tag ${tag} is not one well-formed BER tag`);
    const n = parseInt(tag, 16);
    const known = { tag, spec, bytes, number: n };
    map.set(tag, known);
    byNumber.set(n, known);
    if (bytes.length <= 2) short[n] = list.push(known);
  }
  const maxBytes = new Uint16Array(list.length + 1);
  for (let i = 0; i < list.length; i++) maxBytes[i + 1] = Math.min(list[i]!.spec.maxBytes ?? 0xffff, 0xffff);
  return { tags: map, byNumber, short, list, maxBytes, lastTags: [], lastKnown: [], unknown, dialect };
}

/** How many positions of a tag list writeTlv remembers (a DE55 has 10 to 30 tags). */
const MEMO = 64;

/** Writes entries as BER-TLV (minimal length encoding); returns the number of bytes written. */
export function writeTlv(w: Writer, entries: readonly TlvEntry[], rules: TlvRules, path: string): number {
  const start = w.pos;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const tag = e?.tag;
    let known: KnownTag | undefined;
    if (typeof tag === 'string') {
      if (rules.lastTags[i] === tag) known = rules.lastKnown[i];
      else {
        known = rules.tags.get(tag);
        if (i < MEMO) {
          rules.lastTags[i] = tag;
          rules.lastKnown[i] = known;
        }
      }
    }
    const tb = known !== undefined ? known.bytes : typeof e?.tag === 'string' ? tagBytes(e.tag) : null;
    if (tb === null) throw new CodecError('SW_ERR_CODEC_VALUE_INVALID', path, w.pos, { reason: `entry ${i} has no valid BER tag` });
    const value = e.value;
    if (!(value instanceof Uint8Array)) {
      throw new CodecError('SW_ERR_CODEC_VALUE_INVALID', `${path}.${e.tag}`, w.pos, { reason: 'TLV value must be bytes' });
    }
    if (known === undefined) {
      if (rules.unknown === 'error') throw new CodecError('SW_ERR_CODEC_UNKNOWN_TAG', path, w.pos, { tag: e.tag, dialect: rules.dialect });
    } else if (known.spec.maxBytes !== undefined && value.length > known.spec.maxBytes) {
      throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', `${path}.${e.tag}`, w.pos, { length: value.length, min: 0, max: known.spec.maxBytes, unit: 'bytes' });
    }
    const n = value.length;
    if (n > 0xffff) throw new CodecError('SW_ERR_CODEC_BAD_LENGTH', `${path}.${e.tag}`, w.pos, { length: n, min: 0, max: 0xffff, unit: 'bytes' });
    w.ensure(tb.length + 3 + n);
    const buf = w.buf;
    let o = w.pos;
    if (known !== undefined && tb.length <= 2) {
      if (tb.length === 2) buf[o++] = known.number >> 8;
      buf[o++] = known.number & 0xff;
    } else for (let k = 0; k < tb.length; k++) buf[o++] = tb[k]!;
    if (n < 0x80) buf[o++] = n;
    else if (n < 0x100) {
      buf[o++] = 0x81;
      buf[o++] = n;
    } else {
      buf[o++] = 0x82;
      buf[o++] = n >> 8;
      buf[o++] = n & 0xff;
    }
    if (n <= 32) for (let k = 0; k < n; k++) buf[o + k] = value[k]!;
    else buf.set(value, o);
    w.pos = o + n;
  }
  return w.pos - start;
}

const BYTE_HEX: string[] = [];
for (let i = 0; i < 256; i++) BYTE_HEX.push(i.toString(16).toUpperCase().padStart(2, '0'));
function hexOf(buf: Uint8Array, start: number, end: number): string {
  if (end - start === 1) return BYTE_HEX[buf[start]!]!;
  if (end - start === 2) return BYTE_HEX[buf[start]!]! + BYTE_HEX[buf[start + 1]!]!;
  let s = '';
  for (let i = start; i < end; i++) s += BYTE_HEX[buf[i]!]!;
  return s;
}

function tlvError(
  code: 'SW_ERR_CODEC_BAD_TLV' | 'SW_ERR_CODEC_UNKNOWN_TAG' | 'SW_ERR_CODEC_BAD_LENGTH',
  path: string,
  offset: number,
  params: Record<string, string | number>,
): never {
  throw new CodecError(code, path, offset, params);
}

function tagName(known: KnownTag | undefined, src: Uint8Array, at: number, length: number): string {
  return known !== undefined ? known.tag : hexOf(src, at, at + length);
}

type Visit = (tag: string, valueAt: number, length: number) => void;

/**
 * Walks BER-TLV entries in src[start, end), checking every tag and length as it goes, and calls `visit` for each
 * entry the rules keep. `base` and `scale` map positions to message offsets for error reports (scale 2 when the
 * TLV was hex text on the wire). Lengths must be minimally encoded (1–3 bytes), so pack(unpack(bytes)) gives the
 * same bytes back. Returns the number of unknown entries the 'skip' policy left out.
 */
function walkTlv(src: Uint8Array, start: number, end: number, rules: TlvRules, path: string, base: number, scale: number, visit: Visit | null): number {
  let skipped = 0;
  let p = start;
  while (p < end) {
    const tl = tagLength(src, p, end);
    if (tl < 0) tlvError('SW_ERR_CODEC_BAD_TLV', path, base + (p - start) * scale, { reason: 'tag runs past the field' });
    let tagNumber = 0;
    for (let k = 0; k < tl; k++) tagNumber = tagNumber * 256 + src[p + k]!;
    const known = tl <= 2 ? rules.list[rules.short[tagNumber]! - 1] : rules.byNumber.get(tagNumber);
    const tagAt = p;
    p += tl;
    if (p >= end) tlvError('SW_ERR_CODEC_BAD_TLV', `${path}.${tagName(known, src, tagAt, tl)}`, base + (p - start) * scale, { reason: 'missing length' });
    let n = src[p++]!;
    if (n & 0x80) {
      const k = n & 0x7f;
      if (k === 0 || k > 2)
        tlvError('SW_ERR_CODEC_BAD_TLV', `${path}.${tagName(known, src, tagAt, tl)}`, base + (p - 1 - start) * scale, {
          reason: 'length of length must be 1 or 2 bytes',
        });
      if (p + k > end)
        tlvError('SW_ERR_CODEC_BAD_TLV', `${path}.${tagName(known, src, tagAt, tl)}`, base + (p - start) * scale, { reason: 'length runs past the field' });
      n = k === 1 ? src[p]! : (src[p]! << 8) | src[p + 1]!;
      if ((k === 1 && n < 0x80) || (k === 2 && n < 0x100)) {
        tlvError('SW_ERR_CODEC_BAD_TLV', `${path}.${tagName(known, src, tagAt, tl)}`, base + (p - start) * scale, {
          reason: 'length is not minimally encoded',
        });
      }
      p += k;
    }
    if (p + n > end)
      tlvError('SW_ERR_CODEC_BAD_TLV', `${path}.${tagName(known, src, tagAt, tl)}`, base + (p - start) * scale, { reason: 'value runs past the field' });
    if (known === undefined) {
      if (rules.unknown === 'error')
        tlvError('SW_ERR_CODEC_UNKNOWN_TAG', path, base + (p - start) * scale, { tag: tagName(known, src, tagAt, tl), dialect: rules.dialect });
      if (rules.unknown === 'skip') {
        skipped++;
        p += n;
        continue;
      }
    } else if (known.spec.maxBytes !== undefined && n > known.spec.maxBytes) {
      tlvError('SW_ERR_CODEC_BAD_LENGTH', `${path}.${tagName(known, src, tagAt, tl)}`, base + (p - start) * scale, {
        length: n,
        min: 0,
        max: known.spec.maxBytes,
        unit: 'bytes',
      });
    }
    if (visit !== null) visit(tagName(known, src, tagAt, tl), p, n);
    p += n;
  }
  return skipped;
}

/** Reads BER-TLV entries from src[start, end) at once (see walkTlv for the checks). Values are copies. */
export function readTlv(src: Uint8Array, start: number, end: number, rules: TlvRules, path: string, base: number, scale: number): TlvEntry[] {
  const out: TlvEntry[] = [];
  walkTlv(src, start, end, rules, path, base, scale, (tag, at, n) => out.push({ tag, value: copyOf(src, at, n) }));
  return out;
}

function copyOf(src: Uint8Array, at: number, n: number): Buffer {
  // Values are copies, never views into the caller's (possibly reused) buffer.
  const value = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) value[k] = src[at + k]!;
  return value;
}

/**
 * A TLV field checked in full at unpack but not yet split into entries. It keeps the field as it was on the wire,
 * as a string (latin1, one character per byte: the BER-TLV bytes, or their hex text), which costs no buffer of its
 * own: unpack cuts it from the message it already read as text. Unpack raised every error readTlv would, so
 * nothing read from it later is trusted unchecked. The entries are built on first read (IsoMessage.get); a pack
 * under the same rules writes the wire form back as it came. See docs/codec.md ("DE55 is read when it is used").
 */
export class LazyTlv {
  constructor(
    /** The field's content as on the wire (no length prefix), one character per byte. */
    readonly wire: string,
    /** The wire form is hex text (two characters a byte), else the bytes themselves. */
    readonly hex: boolean,
    readonly rules: TlvRules,
    /** Unknown entries the rules skip: when non-zero, the wire holds more than the entries do. */
    readonly skipped: number,
    private readonly path: string,
  ) {}

  /** The BER-TLV bytes (a new buffer each call). */
  bytes(): Buffer {
    return Buffer.from(this.wire, this.hex ? 'hex' : 'latin1');
  }

  /** The entries, as readTlv gives them; the bytes were checked when this was made, so this cannot throw. */
  entries(): TlvEntry[] {
    const b = this.bytes();
    return readTlv(b, 0, b.length, this.rules, this.path, 0, 1);
  }
}

/** Checks the BER-TLV bytes src[start, end) as readTlv would; returns how many unknown entries the rules skip. */
export function checkTlv(src: Uint8Array, start: number, end: number, rules: TlvRules, path: string, base: number, scale: number): number {
  if (plainTlv(src, start, end, rules)) return 0;
  return walkTlv(src, start, end, rules, path, base, scale, null);
}

/**
 * True when src[start, end) is well-formed BER-TLV of the commonest shape, each entry passing the rules: 1- or
 * 2-byte tags, lengths of one byte or 0x81 and one, no unknown tag unless the rules keep them. This is the check
 * unpack makes of every DE55, in a loop with no calls and no strings; anything else (an error, a longer tag or
 * length, a tag to skip or refuse) answers false, and walkTlv, which raises each error, decides. So a true here
 * is always a true there.
 */
export function plainTlv(src: Uint8Array, start: number, end: number, rules: TlvRules): boolean {
  const short = rules.short;
  const maxBytes = rules.maxBytes;
  const keep = rules.unknown === 'keep';
  let p = start;
  while (p < end) {
    let tag = src[p++]!;
    if ((tag & 0x1f) === 0x1f) {
      if (p >= end) return false;
      const second = src[p++]!;
      if (second & 0x80) return false;
      tag = (tag << 8) | second;
    }
    if (p >= end) return false;
    let n = src[p++]!;
    if (n & 0x80) {
      if (n !== 0x81 || p >= end) return false;
      n = src[p++]!;
      if (n < 0x80) return false;
    }
    if (n > end - p) return false;
    const k = short[tag]!;
    if (k === 0 ? !keep : n > maxBytes[k]!) return false;
    p += n;
  }
  return true;
}
