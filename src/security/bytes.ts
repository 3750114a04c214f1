/**
 * Byte helpers of the card-security code (docs/security.md, "Key store"): wiping, hex parsing and XOR. Secrets
 * live in Buffers, never in strings, so they can be wiped (`fill(0)`) the moment an operation is done with them.
 */
import { SwitchError } from '../errors.js';

/** Overwrites every buffer with zeros (absent ones are skipped). Call it in `finally`. */
export function wipe(...bufs: readonly (Uint8Array | null | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}

/** `a XOR b` into a new buffer of their (equal) length. */
export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  if (a.length !== b.length) throw new RangeError(`xor of ${a.length} and ${b.length} bytes`);
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

const HEX = /^(?:[0-9A-Fa-f]{2})+$/;

/**
 * Hex text (spaces allowed between groups, as key components are often written) to bytes, or
 * SW_ERR_SEC_BAD_INPUT naming `operation`. The text is never quoted in the error: it may be a key.
 */
export function parseHex(text: string, operation: string, what: string): Buffer {
  const s = text.replace(/[\s]+/g, '');
  if (!HEX.test(s)) throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation, reason: `${what} is not an even number of hex digits` });
  return Buffer.from(s, 'hex');
}

/** Upper-case hex of bytes (check values, never keys). */
export function hexUpper(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').toUpperCase();
}

/** A byte array given to an operation: 8-bit data of the expected length, or SW_ERR_SEC_BAD_INPUT. */
export function requireBytes(v: unknown, operation: string, what: string, lengths?: readonly number[]): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation, reason: `${what} is not a byte array` });
  if (lengths && !lengths.includes(v.length)) {
    throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation, reason: `${what} is ${v.length} bytes, not ${lengths.join(' or ')}` });
  }
  return v;
}
