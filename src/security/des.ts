/**
 * DES and TDES on Node's OpenSSL (docs/security.md, "Key store"). OpenSSL 3 keeps single DES in its legacy
 * provider, which Node 20 does not load: a single-DES step is done as two-key TDES with K1 = K2 (E_K D_K E_K = E_K),
 * with `des-ede-ecb` / `des-ede-cbc` (two-key) and `des-ede3-ecb` (three-key) from the default provider.
 *
 * Every function takes the clear key as a buffer, copies nothing it does not wipe, and leaves the caller's
 * buffers as they were. The cipher contexts OpenSSL builds hold the key schedule until they are freed; that
 * memory is out of JavaScript's reach (a limit of a software HSM, see docs/security.md).
 */
import crypto, { type Cipher, type Decipher } from 'node:crypto';
import { wipe } from './bytes.js';

/** Runs one cipher over `data` (no padding) and returns the output as one buffer; the parts are wiped. */
function run(c: Cipher | Decipher, data: Uint8Array): Buffer {
  c.setAutoPadding(false);
  const a = c.update(data);
  const b = c.final();
  if (b.length === 0) return a;
  const out = Buffer.concat([a, b]);
  wipe(a, b);
  return out;
}

function ecbName(key: Uint8Array): string {
  if (key.length === 16) return 'des-ede-ecb';
  if (key.length === 24) return 'des-ede3-ecb';
  throw new RangeError(`TDES key of ${key.length} bytes (16 or 24 expected)`);
}

function blocks(data: Uint8Array): void {
  if (data.length === 0 || data.length % 8 !== 0) throw new RangeError(`TDES data of ${data.length} bytes (a multiple of 8 expected)`);
}

/** TDES ECB encryption of whole 8-byte blocks under a double (16) or triple (24) length key. */
export function tdesEncryptEcb(key: Uint8Array, data: Uint8Array): Buffer {
  blocks(data);
  return run(crypto.createCipheriv(ecbName(key), key, null), data);
}

/** TDES ECB decryption of whole 8-byte blocks under a double (16) or triple (24) length key. */
export function tdesDecryptEcb(key: Uint8Array, data: Uint8Array): Buffer {
  blocks(data);
  return run(crypto.createDecipheriv(ecbName(key), key, null), data);
}

/** K || K: a single-DES key as a two-key TDES key. The caller wipes it. */
function doubled(k: Uint8Array): Buffer {
  if (k.length !== 8) throw new RangeError(`DES key of ${k.length} bytes (8 expected)`);
  const kk = Buffer.alloc(16);
  kk.set(k, 0);
  kk.set(k, 8);
  return kk;
}

/** Single-DES ECB encryption of whole blocks (as TDES with K1 = K2). */
export function desEncryptEcb(key8: Uint8Array, data: Uint8Array): Buffer {
  const kk = doubled(key8);
  try {
    return tdesEncryptEcb(kk, data);
  } finally {
    wipe(kk);
  }
}

/**
 * The last output block of single-DES CBC encryption of `data` (whole blocks) from a zero IV: the CBC-MAC chain
 * value H_q of ISO/IEC 9797-1. Every other output block is wiped.
 */
export function desCbcLastBlock(key8: Uint8Array, data: Uint8Array): Buffer {
  blocks(data);
  const kk = doubled(key8);
  let out: Buffer | undefined;
  try {
    out = run(crypto.createCipheriv('des-ede-cbc', kk, Buffer.alloc(8)), data);
    return Buffer.from(out.subarray(out.length - 8));
  } finally {
    wipe(kk, out);
  }
}

/**
 * The check value of a DES or TDES key: the encryption of eight zero bytes, of which the first three (six hex
 * digits) are what is shown and compared (docs/security.md, "Key store").
 */
export function checkValue(key: Uint8Array): Buffer {
  return key.length === 8 ? desEncryptEcb(key, Buffer.alloc(8)) : tdesEncryptEcb(key, Buffer.alloc(8));
}

/** Whether every byte has an odd number of set bits (the DES parity convention; DES itself ignores bit 0). */
export function hasOddParity(key: Uint8Array): boolean {
  for (const b of key) if (!oddBits(b)) return false;
  return true;
}

function oddBits(b: number): boolean {
  let x = b;
  x ^= x >> 4;
  x ^= x >> 2;
  x ^= x >> 1;
  return (x & 1) === 1;
}

/** Sets the low bit of every byte so it has odd parity, in place; the key's DES meaning is unchanged. */
export function forceOddParity(key: Uint8Array): void {
  for (let i = 0; i < key.length; i++) if (!oddBits(key[i]!)) key[i] = key[i]! ^ 1;
}
