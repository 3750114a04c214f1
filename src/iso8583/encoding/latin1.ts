/**
 * Short byte runs to strings. Buffer#latin1Slice costs a native call (~150 ns here) whatever the length;
 * String.fromCharCode with the bytes as arguments is ~4x cheaper for the short fields that make up most of
 * a message, so one decoder per length up to 64 is generated once at load.
 */
type Decoder = (b: Uint8Array, o: number) => string;

const MAX_SPECIALIZED = 64;
const DECODERS: Decoder[] = [];
for (let n = 0; n <= MAX_SPECIALIZED; n++) {
  const args = Array.from({ length: n }, (_, i) => `b[o + ${i}]`).join(', ');
  DECODERS.push(new Function('b', 'o', n === 0 ? "return '';" : `return String.fromCharCode(${args});`) as Decoder);
}

export function latin1(buf: Buffer, off: number, len: number): string {
  return len <= MAX_SPECIALIZED ? DECODERS[len]!(buf, off) : buf.latin1Slice(off, off + len);
}
