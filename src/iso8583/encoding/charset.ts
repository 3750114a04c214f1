/**
 * Character classes of ISO 8583 field types, as lookup tables over byte values (ASCII / latin1).
 * n = digits; a = letters and space; an = letters, digits and space; ans = any printable ASCII;
 * ns = digits, space and specials; z = track-2 (digits, '=' and 'D' separator).
 */
const DIGIT = 1;
const LETTER = 2;
const SPACE = 4;
const SPECIAL = 8;
const TRACK2_SEP = 16;

/** Character class bits of each byte value (DIGIT, LETTER, …), for the checks below and the generated unpack. */
export const CLASS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) CLASS[c] |= DIGIT;
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] |= LETTER;
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] |= LETTER;
CLASS[0x20] |= SPACE;
for (let c = 0x21; c <= 0x7e; c++) if (!(CLASS[c]! & (DIGIT | LETTER))) CLASS[c] |= SPECIAL;
CLASS[0x3d] |= TRACK2_SEP; // '='
CLASS[0x44] |= TRACK2_SEP; // 'D'

export type TextType = 'n' | 'a' | 'an' | 'ans' | 'ns' | 'z';

export const CHARSET_MASK: Readonly<Record<TextType, number>> = {
  n: DIGIT,
  a: LETTER | SPACE,
  an: LETTER | DIGIT | SPACE,
  ans: LETTER | DIGIT | SPACE | SPECIAL,
  ns: DIGIT | SPACE | SPECIAL,
  z: DIGIT | TRACK2_SEP,
};

/**
 * Validates `s` against `mask` and writes it as single bytes at buf[off..] in one pass (the caller has
 * ensured room). Returns the new offset, or -1 - i for the first bad character i (nothing useful written).
 */
export function writeCheckedText(buf: Uint8Array, off: number, s: string, from: number, mask: number): number {
  let o = off;
  const n = s.length;
  // Digits and printable ASCII (n and ans: most of a message) by range, which costs less per character than the
  // table; a character above 0xff falls outside every range and every class.
  if (mask === DIGIT) {
    for (let i = from; i < n; i++) {
      const c = s.charCodeAt(i);
      if ((c - 0x30) >>> 0 > 9) return -1 - i;
      buf[o++] = c;
    }
    return o;
  }
  if (mask === (LETTER | DIGIT | SPACE | SPECIAL)) {
    for (let i = from; i < n; i++) {
      const c = s.charCodeAt(i);
      if ((c - 0x20) >>> 0 > 0x5e) return -1 - i;
      buf[o++] = c;
    }
    return o;
  }
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || (CLASS[c]! & mask) === 0) return -1 - i;
    buf[o++] = c;
  }
  return o;
}

/** Index of the first character of `s` outside the class `mask`, or -1. */
export function firstInvalidChar(s: string, mask: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || (CLASS[c]! & mask) === 0) return i;
  }
  return -1;
}

const DIGITS_ONLY = DIGIT;
const PRINTABLE = LETTER | DIGIT | SPACE | SPECIAL;
const TRACK2 = DIGIT | TRACK2_SEP;

/**
 * Index (relative to start) of the first byte outside the class `mask`, or -1. Digits, track 2 and printable ASCII (n, z
 * and ans: most of a message) are checked by range, which costs less per byte than the table the other classes use.
 */
export function firstInvalidByte(buf: Uint8Array, start: number, end: number, mask: number): number {
  if (mask === DIGITS_ONLY) {
    for (let i = start; i < end; i++) if ((buf[i]! - 0x30) >>> 0 > 9) return i - start;
    return -1;
  }
  if (mask === TRACK2) {
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if ((c - 0x30) >>> 0 > 9 && c !== 0x3d && c !== 0x44) return i - start;
    }
    return -1;
  }
  if (mask === PRINTABLE) {
    for (let i = start; i < end; i++) if ((buf[i]! - 0x20) >>> 0 > 0x5e) return i - start;
    return -1;
  }
  for (let i = start; i < end; i++) if ((CLASS[buf[i]!]! & mask) === 0) return i - start;
  return -1;
}
