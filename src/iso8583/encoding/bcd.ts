/**
 * Binary-coded decimal: two digits a byte. An odd count of digits gets one pad nibble, on the left
 * (numbers, jPOS IFB_NUMERIC) or on the right (PANs and track 2, jPOS IFB_LLNUM), with value 0 or F.
 * Track-2 separators ('=' or 'D') are nibble D.
 */
export interface BcdPad {
  side: 'left' | 'right';
  nibble: 0 | 15;
}

export const BCD_LEFT_0: BcdPad = { side: 'left', nibble: 0 };

function nibbleOf(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c === 0x3d || c === 0x44) return 0xd; // '=' or 'D'
  return -1;
}

/** Writes the digits of `s` as BCD at `off`; returns the new offset, or -1 - index of a bad character. */
export function writeBcd(buf: Buffer, off: number, s: string, pad: BcdPad): number {
  const n = s.length;
  let i = 0;
  let o = off;
  if (n & 1) {
    if (pad.side === 'left') {
      const d = nibbleOf(s.charCodeAt(0));
      if (d < 0) return -1;
      buf[o++] = (pad.nibble << 4) | d;
      i = 1;
    }
  }
  const evenEnd = pad.side === 'right' && n & 1 ? n - 1 : n;
  for (; i < evenEnd; i += 2) {
    const hi = nibbleOf(s.charCodeAt(i));
    const lo = nibbleOf(s.charCodeAt(i + 1));
    if (hi < 0) return -1 - i;
    if (lo < 0) return -2 - i;
    buf[o++] = (hi << 4) | lo;
  }
  if (n & 1 && pad.side === 'right') {
    const d = nibbleOf(s.charCodeAt(n - 1));
    if (d < 0) return -n;
    buf[o++] = (d << 4) | pad.nibble;
  }
  return o;
}

const DIGIT_CHARS = '0123456789??????';

/**
 * Reads `digits` BCD digits from buf[off..]. Returns the text, or null when a nibble is not a digit (or
 * separator, when `allowSeparator`) or the pad nibble is not the expected one.
 */
export function readBcd(buf: Uint8Array, off: number, digits: number, pad: BcdPad, allowSeparator: boolean): string | null {
  const bytes = (digits + 1) >> 1;
  let s = '';
  const odd = digits & 1;
  for (let k = 0; k < bytes; k++) {
    const b = buf[off + k]!;
    const hi = b >> 4;
    const lo = b & 15;
    if (odd && k === 0 && pad.side === 'left') {
      if (hi !== pad.nibble) return null;
    } else {
      if (hi > 9 && !(allowSeparator && hi === 0xd)) return null;
      s += hi === 0xd ? '=' : DIGIT_CHARS[hi];
    }
    if (odd && k === bytes - 1 && pad.side === 'right') {
      if (lo !== pad.nibble) return null;
    } else {
      if (lo > 9 && !(allowSeparator && lo === 0xd)) return null;
      s += lo === 0xd ? '=' : DIGIT_CHARS[lo];
    }
  }
  return s;
}
