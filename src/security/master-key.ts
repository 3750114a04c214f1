/**
 * The soft HSM's master key (docs/security.md, "Key store"): 32 random bytes, given as 64 hex digits or as base64
 * in SW_MASTER_KEY (`openssl rand -base64 32`). Every stored key is encrypted under it with AES-256-GCM. It is
 * held as a KeyObject, outside the JavaScript heap, and the bytes it was parsed from are wiped.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { SwitchError } from '../errors.js';
import { wipe } from './bytes.js';

export const MASTER_KEY_ENV = 'SW_MASTER_KEY';

const HOW = 'set it to 32 random bytes as 64 hex digits or base64, e.g. `openssl rand -base64 32`';

function refuse(source: string, reason: string): SwitchError {
  return new SwitchError('SW_ERR_SEC_MASTER_KEY', { source, reason: `${reason}; ${HOW}` });
}

/** Parses a master key, or SW_ERR_SEC_MASTER_KEY naming `source` (never quoting the text). */
export function parseMasterKey(text: string | undefined, source: string = MASTER_KEY_ENV): KeyObject {
  if (text === undefined || text.trim() === '') throw refuse(source, 'it is not set');
  const s = text.trim();
  let bytes: Buffer;
  if (/^[0-9A-Fa-f]+$/.test(s) && s.length % 2 === 0) {
    bytes = Buffer.from(s, 'hex');
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(s) || /^[A-Za-z0-9_-]+$/.test(s)) {
    bytes = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
  } else {
    throw refuse(source, 'it is neither hex nor base64');
  }
  try {
    if (bytes.length !== 32) throw refuse(source, `it is ${bytes.length} bytes, not 32`);
    if (bytes.every((b) => b === bytes[0])) throw refuse(source, 'every byte of it is the same');
    return crypto.createSecretKey(bytes);
  } finally {
    wipe(bytes);
  }
}

/** The master key from the environment (SW_MASTER_KEY). */
export function masterKeyFromEnv(env: NodeJS.ProcessEnv = process.env): KeyObject {
  return parseMasterKey(env[MASTER_KEY_ENV], MASTER_KEY_ENV);
}

/**
 * A public check value of a master key (6 hex digits of an HMAC of a fixed label), written in the key file so
 * that a wrong master key is told apart from a damaged entry.
 */
export function masterCheckValue(master: KeyObject): string {
  return crypto.createHmac('sha256', master).update('iso8583-switch soft HSM master key check').digest('hex').slice(0, 6).toUpperCase();
}
