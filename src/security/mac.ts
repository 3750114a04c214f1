/**
 * The retail MAC: ISO/IEC 9797-1 MAC algorithm 3 with DES (the ANSI X9.19 MAC), docs/security.md, "MAC".
 *
 * With the double-length key K || K': pad the data (method 1 or 2), chain the blocks through single-DES CBC
 * under K from a zero IV (H_1 .. H_q), then output E_K(D_K'(H_q)), truncated to the leftmost 8 or 4 bytes.
 * The last two steps are one two-key TDES encryption of H_(q-1) XOR D_q, which is how it is computed here.
 */
import crypto from 'node:crypto';
import { wipe, xor } from './bytes.js';
import { desCbcLastBlock, tdesEncryptEcb } from './des.js';

/** ISO/IEC 9797-1 padding method 1 (zeros) or 2 (0x80, then zeros). */
export type MacPadding = 1 | 2;
/** Bytes of the MAC kept: all 8, or the leftmost 4 (what many ISO 8583 networks carry). */
export type MacLength = 4 | 8;

export interface MacOptions {
  /** Padding method (default 1, as ANSI X9.19). */
  padding?: MacPadding;
  /** Bytes of MAC (default 8). */
  length?: MacLength;
}

export const MAC_DEFAULTS: Readonly<Required<MacOptions>> = Object.freeze({ padding: 1, length: 8 });

/**
 * `data` padded to whole 8-byte blocks. Method 1 appends zeros up to the next block boundary (none when already
 * on one; an empty string becomes one zero block); method 2 appends 0x80 and then zeros (always at least one byte).
 */
export function padIso9797(data: Uint8Array, method: MacPadding): Buffer {
  const extra = method === 2 ? 1 : 0;
  const n = Math.max(8, Math.ceil((data.length + extra) / 8) * 8);
  const out = Buffer.alloc(n);
  out.set(data, 0);
  if (method === 2) out[data.length] = 0x80;
  return out;
}

/** ISO/IEC 9797-1 MAC algorithm 3 of `data` under the 16-byte key K || K'. Intermediate buffers are wiped. */
export function retailMac(key: Uint8Array, data: Uint8Array, opts: MacOptions = {}): Buffer {
  if (key.length !== 16) throw new RangeError(`retail MAC key of ${key.length} bytes (16 expected)`);
  const padding = opts.padding ?? MAC_DEFAULTS.padding;
  const length = opts.length ?? MAC_DEFAULTS.length;
  const padded = padIso9797(data, padding);
  const k1 = key.subarray(0, 8);
  let h: Buffer | undefined;
  let last: Buffer | undefined;
  let full: Buffer | undefined;
  try {
    const head = padded.subarray(0, padded.length - 8);
    h = head.length > 0 ? desCbcLastBlock(k1, head) : Buffer.alloc(8);
    last = xor(h, padded.subarray(padded.length - 8));
    full = tdesEncryptEcb(key, last);
    return Buffer.from(full.subarray(0, length));
  } finally {
    wipe(padded, h, last, full);
  }
}

/** Whether `mac` is the MAC of `data`, compared in constant time. A MAC of the wrong length is not. */
export function retailMacVerify(key: Uint8Array, data: Uint8Array, mac: Uint8Array, opts: MacOptions = {}): boolean {
  const want = retailMac(key, data, opts);
  try {
    return want.length === mac.length && crypto.timingSafeEqual(want, mac);
  } finally {
    wipe(want);
  }
}

/**
 * The bytes a MAC covers in a packed ISO 8583 message (docs/security.md, "MAC"): everything from the MTI up to
 * the MAC field, which is always the message's last field (DE64 when there is no secondary bitmap, DE128 when
 * there is). `macFieldBytes` is the packed size of that field (8 in binary dialects, 16 where it is hex text).
 * The packed message must have been built with the MAC field present (any filler), so the bitmap says so.
 */
export function macInput(packed: Uint8Array, macFieldBytes: number): Buffer {
  if (!Number.isInteger(macFieldBytes) || macFieldBytes <= 0 || macFieldBytes > packed.length) {
    throw new RangeError(`MAC field of ${macFieldBytes} bytes in a message of ${packed.length}`);
  }
  return Buffer.from(packed.subarray(0, packed.length - macFieldBytes));
}
