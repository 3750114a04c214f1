/**
 * The key store: what the switch asks of an HSM (docs/security.md, "Key store"). Keys are referred to by name and
 * never leave it in clear; a caller gets PIN blocks under another key, MACs, verdicts and check values, nothing
 * else. src/security/soft-hsm.ts is the software implementation; a network HSM (Thales payShield, Utimaco, a
 * cloud payment HSM) can implement the same interface later, which is why every operation is asynchronous.
 *
 * A name is `type:owner`, e.g. `zpk:psp-a`, `zmk:acq-1`, `tak:acq-1`. The type fixes what the key may do, so a
 * key of one kind cannot be used for another's job (a ZMK never decrypts a PIN block, a PIN key never MACs):
 *
 *   zmk  zone master key       key-encrypting key: imports working keys sent under it (key exchange)
 *   zpk  zone PIN key          PIN blocks (DE52) between zones: the PSP's and each acquirer's
 *   zak  zone authentication   MACs (DE64/DE128) on a zone link
 *   tak  terminal/link MAC key MACs (DE64/DE128), the name the acquirer key exchange uses
 */
import { SwitchError } from '../errors.js';
import type { MacOptions } from './mac.js';

export const KEY_TYPES = ['zmk', 'zpk', 'zak', 'tak'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** What a key of a type may be used for. */
export type KeyUse = 'import' | 'pin' | 'mac';
export const KEY_USE: Readonly<Record<KeyType, KeyUse>> = Object.freeze({ zmk: 'import', zpk: 'pin', zak: 'mac', tak: 'mac' });

/** Clear lengths a key of each type may have: TDES double length, or triple for ZMKs and PIN keys. MAC keys are K || K'. */
export const KEY_LENGTHS: Readonly<Record<KeyType, readonly number[]>> = Object.freeze({ zmk: [16, 24], zpk: [16, 24], zak: [16], tak: [16] });

/** Key types a key exchange may import (working keys; never a ZMK). */
export const WORKING_KEY_TYPES: readonly KeyType[] = ['zpk', 'zak', 'tak'];

const NAME = /^([a-z]{3}):([a-z0-9][a-z0-9._-]{0,62})$/;

export interface KeyName {
  readonly name: string;
  readonly type: KeyType;
  readonly owner: string;
}

/** Parses `type:owner`, or SW_ERR_SEC_KEY_NAME (the name is not quoted: a mistyped one might be a key). */
export function parseKeyName(name: unknown): KeyName {
  const m = typeof name === 'string' ? NAME.exec(name) : null;
  if (!m) {
    throw new SwitchError('SW_ERR_SEC_KEY_NAME', {
      reason: 'a key name is type:owner, the owner 1..63 of a-z 0-9 . _ - starting with a letter or digit',
    });
  }
  const type = m[1] as KeyType;
  if (!KEY_TYPES.includes(type)) throw new SwitchError('SW_ERR_SEC_KEY_NAME', { reason: `the type is not one of ${KEY_TYPES.join(', ')}` });
  return { name: name as string, type, owner: m[2]! };
}

/** What the store tells about a key: never its value. */
export interface KeyInfo {
  readonly name: string;
  readonly type: KeyType;
  /** Clear length in bytes (16 or 24). */
  readonly length: number;
  /** Check value: the first 3 bytes of the encryption of 8 zero bytes, as 6 upper-case hex digits. */
  readonly kcv: string;
}

export interface KeyStore {
  /**
   * Re-encrypts a format 0 PIN block (8 bytes) from one PIN key to another; `pan` is the card's full PAN
   * (the block is checked to decrypt to a valid format 0 block for it). The clear PIN never leaves the store.
   * SW_ERR_SEC_PIN_BLOCK when it does not; SW_ERR_SEC_KEY_NOT_FOUND, SW_ERR_SEC_KEY_USAGE for the keys.
   */
  translatePin(pinBlock: Uint8Array, fromKey: string, toKey: string, pan: string): Promise<Buffer>;
  /** The ISO 9797-1 algorithm 3 MAC of `data` under a MAC key (zak, tak); 8 bytes unless `opts.length` is 4. */
  generateMac(key: string, data: Uint8Array, opts?: MacOptions): Promise<Buffer>;
  /** Whether `mac` is that MAC (constant-time comparison; a MAC of another length is false). */
  verifyMac(key: string, data: Uint8Array, mac: Uint8Array, opts?: MacOptions): Promise<boolean>;
  /**
   * Imports a working key sent encrypted under a zone master key (TDES ECB, 16 or 24 bytes) and stores it under
   * `name`, replacing a key of that name. `kcv` is the check value the sender gave (4..16 hex digits, or bytes):
   * a key whose check value differs is refused (SW_ERR_SEC_KCV_MISMATCH) and nothing is stored.
   */
  importWorkingKey(name: string, encryptedUnderZmk: Uint8Array, zmkName: string, kcv: string | Uint8Array): Promise<KeyInfo>;
  /** The check value of a stored key (6 hex digits). */
  kcv(name: string): Promise<string>;
  /** The names of every stored key, sorted. */
  keyNames(): Promise<string[]>;
  /** Releases what the store holds (a connection to a network HSM; the master key of the soft HSM). */
  close(): Promise<void>;
}

/**
 * For a flow that must refuse a message whose MAC does not verify: resolves when it does, else rejects with
 * SW_ERR_SEC_MAC_INVALID naming the key.
 */
export async function requireMac(store: Pick<KeyStore, 'verifyMac'>, key: string, data: Uint8Array, mac: Uint8Array, opts?: MacOptions): Promise<void> {
  if (!(await store.verifyMac(key, data, mac, opts))) throw new SwitchError('SW_ERR_SEC_MAC_INVALID', { name: key });
}
