/**
 * The ledger never stores a PAN: only a keyed hash (HMAC-SHA-256, hex) and the masked PAN (first 6, last 4).
 */
import crypto from 'node:crypto';

export interface ProtectedPan {
  panHash: string;
  panMasked: string;
}

export function maskPan(pan: string): string {
  const digits = pan.replace(/\D/g, '');
  if (digits.length < 13) return '*'.repeat(digits.length);
  return `${digits.slice(0, 6)}${'*'.repeat(digits.length - 10)}${digits.slice(-4)}`;
}

/** Keyed hash and mask of a PAN; the key comes from configuration, never from the message. */
export function protectPan(pan: string, key: string | Buffer): ProtectedPan {
  const digits = pan.replace(/\D/g, '');
  return { panHash: crypto.createHmac('sha256', key).update(digits).digest('hex'), panMasked: maskPan(digits) };
}

/** True when a string keeps more digits than a masked PAN may (first 6 + last 4). */
export function looksLikePan(s: string): boolean {
  return s.replace(/\D/g, '').length > 10;
}
