const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[0x41 + i] = 10 + i;
  HEX_VALUE[0x61 + i] = 10 + i;
}

/** Decodes ASCII hex [start, start + 2n) into n bytes at out[0..]; returns the index of a bad char or -1. */
export function decodeHexInto(src: Uint8Array, start: number, n: number, out: Uint8Array): number {
  for (let i = 0; i < n; i++) {
    const hi = HEX_VALUE[src[start + 2 * i]!]!;
    const lo = HEX_VALUE[src[start + 2 * i + 1]!]!;
    if (hi < 0) return 2 * i;
    if (lo < 0) return 2 * i + 1;
    out[i] = (hi << 4) | lo;
  }
  return -1;
}

const HEX_UPPER = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_UPPER[i] = '0123456789ABCDEF'.charCodeAt(i);

/** Writes bytes as upper-case ASCII hex at off; returns the new offset. */
export function writeHex(buf: Buffer, off: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let o = off;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    buf[o++] = HEX_UPPER[b >> 4]!;
    buf[o++] = HEX_UPPER[b & 15]!;
  }
  return o;
}
