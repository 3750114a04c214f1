/**
 * EBCDIC code page 037 for the printable ASCII range 0x20..0x7E (the characters ISO 8583 text fields use).
 * Bytes without a printable-ASCII counterpart decode to 0xFF, which no field type accepts.
 */
const CP037_PRINTABLE =
  '405a7f7b5b6c507d4d5d5c4e6b604b61f0f1f2f3f4f5f6f7f8f97a5e4c7e6e6f7cc1c2c3c4c5c6c7c8c9d1d2d3d4d5d6d7d8d9' +
  'e2e3e4e5e6e7e8e9bae0bbb06d79818283848586878889919293949596979899a2a3a4a5a6a7a8a9c04fd0a1';

export const ASCII_TO_EBCDIC = new Uint8Array(256).fill(0x6f); // unmapped → '?' (callers validate first)
export const EBCDIC_TO_ASCII = new Uint8Array(256).fill(0xff);
for (let i = 0; i < 95; i++) {
  const e = parseInt(CP037_PRINTABLE.slice(i * 2, i * 2 + 2), 16);
  ASCII_TO_EBCDIC[0x20 + i] = e;
  EBCDIC_TO_ASCII[e] = 0x20 + i;
}

/** Writes `s` (already validated as printable ASCII) as EBCDIC at `off`; returns the new offset. */
export function writeEbcdic(buf: Buffer, off: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[off + i] = ASCII_TO_EBCDIC[s.charCodeAt(i) & 0xff]!;
  return off + s.length;
}

/** Translates EBCDIC bytes [start, end) to ASCII bytes into `out` (same length). */
export function ebcdicToAscii(src: Uint8Array, start: number, end: number, out: Buffer): void {
  for (let i = start; i < end; i++) out[i - start] = EBCDIC_TO_ASCII[src[i]!]!;
}

export function ebcdicToString(src: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(EBCDIC_TO_ASCII[src[i]!]!);
  return s;
}
