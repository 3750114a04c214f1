import type { PrefixEncoding, PrefixKind } from './codec-types.js';
import { CodecError } from './errors.js';
import { ASCII_TO_EBCDIC, EBCDIC_TO_ASCII } from './encoding/ebcdic.js';
import type { Reader } from './buffer.js';

/** A compiled length prefix: how many bytes it takes, and how to write and read a length. */
export interface Prefixer {
  readonly digits: number; // 0 for fixed
  readonly size: number; // bytes on the wire
  readonly encoding: PrefixEncoding;
  write(buf: Buffer, off: number, length: number): void;
  /** Reads the length at r.pos (does not move r.pos); throws CodecError on a malformed prefix. */
  read(r: Reader, path: string): number;
}

export const PREFIX_DIGITS: Readonly<Record<PrefixKind, number>> = {
  fixed: 0,
  l: 1,
  ll: 2,
  lll: 3,
  llll: 4,
  lllll: 5,
  llllll: 6,
};

function sizeOf(digits: number, encoding: PrefixEncoding): number {
  switch (encoding) {
    case 'ascii':
    case 'ebcdic':
      return digits;
    case 'hex':
      return 2 * Math.ceil(Math.log2(10 ** digits) / 8);
    case 'bcd':
      return (digits + 1) >> 1;
    case 'binary':
      return Math.ceil(Math.log2(10 ** digits) / 8);
  }
}

export function compilePrefix(kind: PrefixKind, encoding: PrefixEncoding): Prefixer {
  const digits = PREFIX_DIGITS[kind];
  const size = digits === 0 ? 0 : sizeOf(digits, encoding);
  const max = 10 ** digits - 1;
  const bad = (r: Reader, path: string): never => {
    throw new CodecError('SW_ERR_CODEC_BAD_LENGTH_PREFIX', path, r.pos, { encoding });
  };
  const truncated = (r: Reader, path: string): never => {
    throw new CodecError('SW_ERR_CODEC_TRUNCATED', path, r.pos, { need: size - (r.end - r.pos), have: r.end - r.pos });
  };
  switch (encoding) {
    case 'ascii':
    case 'ebcdic': {
      const ebcdic = encoding === 'ebcdic';
      return {
        digits,
        size,
        encoding,
        write(buf, off, length) {
          for (let i = digits - 1, v = length; i >= 0; i--, v = Math.floor(v / 10)) {
            const c = 0x30 + (v % 10);
            buf[off + i] = ebcdic ? ASCII_TO_EBCDIC[c]! : c;
          }
        },
        read(r, path) {
          if (r.end - r.pos < size) truncated(r, path);
          let v = 0;
          for (let i = 0; i < digits; i++) {
            let c = r.buf[r.pos + i]!;
            if (ebcdic) c = EBCDIC_TO_ASCII[c]!;
            if (c < 0x30 || c > 0x39) bad(r, path);
            v = v * 10 + (c - 0x30);
          }
          return v;
        },
      };
    }
    case 'bcd':
      return {
        digits,
        size,
        encoding,
        write(buf, off, length) {
          let v = length;
          for (let i = size - 1; i >= 0; i--) {
            const lo = v % 10;
            v = Math.floor(v / 10);
            const hi = v % 10;
            v = Math.floor(v / 10);
            buf[off + i] = (hi << 4) | lo;
          }
        },
        read(r, path) {
          if (r.end - r.pos < size) truncated(r, path);
          let v = 0;
          for (let i = 0; i < size; i++) {
            const b = r.buf[r.pos + i]!;
            const hi = b >> 4;
            const lo = b & 15;
            if (hi > 9 || lo > 9) bad(r, path);
            v = v * 100 + hi * 10 + lo;
          }
          if (v > max) bad(r, path);
          return v;
        },
      };
    case 'binary':
    case 'hex': {
      const hex = encoding === 'hex';
      const bytes = hex ? size / 2 : size;
      return {
        digits,
        size,
        encoding,
        write(buf, off, length) {
          if (hex) {
            buf.write(length.toString(16).toUpperCase().padStart(size, '0'), off, size, 'latin1');
          } else {
            for (let i = bytes - 1, v = length; i >= 0; i--, v = Math.floor(v / 256)) buf[off + i] = v & 0xff;
          }
        },
        read(r, path) {
          if (r.end - r.pos < size) truncated(r, path);
          let v = 0;
          if (hex) {
            const text = r.buf.toString('latin1', r.pos, r.pos + size);
            if (!/^[0-9A-Fa-f]+$/.test(text)) bad(r, path);
            v = parseInt(text, 16);
          } else {
            for (let i = 0; i < bytes; i++) v = v * 256 + r.buf[r.pos + i]!;
          }
          if (v > max) bad(r, path);
          return v;
        },
      };
    }
  }
}
