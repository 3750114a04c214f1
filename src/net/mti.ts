import type { Codec } from '../iso8583/codec-types.js';

/**
 * Reads the MTI at the start of a packed message without unpacking the rest; null when it is not four digits.
 * Used to answer a frame that fails to unpack with a format error.
 */
export function peekMti(codec: Codec, payload: Buffer): string | null {
  const enc = codec.spec.mti.encoding;
  let s = '';
  if (enc === 'bcd') {
    if (payload.length < 2) return null;
    for (let i = 0; i < 2; i++) {
      const b = payload[i]!;
      const hi = b >> 4;
      const lo = b & 15;
      if (hi > 9 || lo > 9) return null;
      s += String(hi) + String(lo);
    }
    return s;
  }
  if (payload.length < 4) return null;
  for (let i = 0; i < 4; i++) {
    const b = payload[i]!;
    const d = enc === 'ebcdic' ? b - 0xf0 : b - 48;
    if (d < 0 || d > 9) return null;
    s += String(d);
  }
  return s;
}

/** ISO 8583:1987 transmission date and time (DE7), MMDDhhmmss in UTC. */
export function transmissionDateTime(now: Date = new Date()): string {
  const p = (n: number): string => (n < 10 ? '0' : '') + String(n);
  return p(now.getUTCMonth() + 1) + p(now.getUTCDate()) + p(now.getUTCHours()) + p(now.getUTCMinutes()) + p(now.getUTCSeconds());
}

/**
 * A system trace audit number generator (DE11): 6 digits, 000001..999999, wrapping, never 000000.
 */
export class StanGenerator {
  private n: number;
  constructor(start = 1 + Math.floor(Math.random() * 999_999)) {
    this.n = ((Math.max(1, Math.floor(start)) - 1) % 999_999) + 1;
  }
  next(): string {
    const v = this.n;
    this.n = v >= 999_999 ? 1 : v + 1;
    return String(v).padStart(6, '0');
  }
}
