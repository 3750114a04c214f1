/**
 * The software HSM: a KeyStore (src/security/key-store.ts) on Node's crypto (docs/security.md, "Key store").
 *
 * Keys are kept sealed under the master key (AES-256-GCM, the key name as associated data), in a key file
 * (src/security/key-file.ts) or in memory only. A key is unsealed only inside one operation, and the clear key,
 * the clear PIN field and every intermediate buffer are wiped in `finally`. Opening a key file unseals each entry
 * once to prove it opens and matches its check value, so a damaged entry or a wrong master key stops start-up
 * instead of the first transaction that needs the key.
 *
 * What a software HSM cannot do: keep the master key out of the process (it is in the environment and in a
 * KeyObject), or wipe the key schedules OpenSSL builds inside each cipher call. It is for development, tests and
 * small deployments; a network HSM implements the same interface.
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { SwitchError } from '../errors.js';
import { hexUpper, parseHex, requireBytes, wipe, xor } from './bytes.js';
import { checkValue, forceOddParity, hasOddParity, tdesDecryptEcb, tdesEncryptEcb } from './des.js';
import { readKeyFile, writeKeyFile, type SealedKey } from './key-file.js';
import { KEY_LENGTHS, KEY_USE, WORKING_KEY_TYPES, parseKeyName, type KeyInfo, type KeyStore, type KeyUse } from './key-store.js';
import { retailMac, retailMacVerify, type MacOptions } from './mac.js';
import { masterCheckValue } from './master-key.js';
import { panField, pinField0 } from './pin-block.js';

export interface SoftHsmOptions {
  /** The master key (src/security/master-key.ts: masterKeyFromEnv). */
  masterKey: KeyObject;
  /** Where key events go (names and check values only). */
  log?: Pick<Logger, 'info' | 'warn'>;
  /** Refuse keys whose bytes do not all have odd parity (default 'enforce'). */
  parity?: 'enforce' | 'ignore';
  /** The clock of `updated` stamps (tests). */
  now?: () => Date;
}

/** Where a key came from, as logged. */
export type KeySource = 'hex' | 'components' | 'import';

/** The ANSI test key and its published check value, the self-test of the DES provider (docs/security.md). */
const SELF_TEST_KEY = '0123456789ABCDEFFEDCBA9876543210';
let selfTested = false;

function selfTest(): void {
  if (selfTested) return;
  const key = Buffer.from(SELF_TEST_KEY, 'hex');
  try {
    const kcv = hexUpper(checkValue(key));
    const mac = hexUpper(retailMac(key, Buffer.from('Now is the time for all ', 'latin1')));
    if (kcv !== '08D7B4FB629D0885') throw new Error('the TDES check value of the ANSI test key is wrong');
    if (mac !== 'A1C72E74EA3FA9B6') throw new Error('the ISO 9797-1 algorithm 3 MAC of the published example is wrong');
    selfTested = true;
  } catch (e) {
    throw new SwitchError('SW_ERR_SEC_SELF_TEST', { reason: e instanceof Error ? e.message : String(e) }, { cause: e });
  } finally {
    wipe(key);
  }
}

function badInput(operation: string, reason: string): SwitchError {
  return new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation, reason });
}

/** The MAC options of a call, checked (they come from configuration). */
function macOptions(operation: string, o: MacOptions | undefined): MacOptions {
  if (o === undefined) return {};
  if (o.padding !== undefined && o.padding !== 1 && o.padding !== 2) throw badInput(operation, 'padding is ISO 9797-1 method 1 or 2');
  if (o.length !== undefined && o.length !== 4 && o.length !== 8) throw badInput(operation, 'a MAC is 4 or 8 bytes');
  return o;
}

/** A check value a caller expects: 2..8 bytes, given as bytes or hex. */
function expectedKcv(operation: string, kcv: string | Uint8Array): Buffer {
  const b = typeof kcv === 'string' ? parseHex(kcv, operation, 'the check value') : Buffer.from(requireBytes(kcv, operation, 'the check value'));
  if (b.length < 2 || b.length > 8) throw badInput(operation, 'a check value is 2 to 8 bytes (4 to 16 hex digits)');
  return b;
}

export class SoftHsm implements KeyStore {
  private readonly keys: Map<string, SealedKey>;
  private master: KeyObject | null;
  private readonly masterCheck: string;
  private readonly file: string | null;
  private readonly log: Pick<Logger, 'info' | 'warn'> | undefined;
  private readonly parity: 'enforce' | 'ignore';
  private readonly now: () => Date;
  /** Changes of the key file, one at a time in call order. */
  private writes: Promise<void> = Promise.resolve();

  private constructor(o: SoftHsmOptions, file: string | null, keys: Map<string, SealedKey>) {
    selfTest();
    if (o.masterKey?.type !== 'secret' || o.masterKey.symmetricKeySize !== 32) {
      throw new SwitchError('SW_ERR_SEC_MASTER_KEY', { source: 'SoftHsmOptions.masterKey', reason: 'it is not a 32-byte secret key' });
    }
    this.master = o.masterKey;
    this.masterCheck = masterCheckValue(o.masterKey);
    this.file = file;
    this.keys = keys;
    this.log = o.log;
    this.parity = o.parity ?? 'enforce';
    this.now = o.now ?? (() => new Date());
  }

  /** A soft HSM whose keys live (sealed) in memory only, gone when the process ends. */
  static inMemory(o: SoftHsmOptions): SoftHsm {
    return new SoftHsm(o, null, new Map());
  }

  /** Creates an empty key file (mode 0600) for this master key; refuses to replace an existing one. */
  static async create(file: string, o: SoftHsmOptions): Promise<SoftHsm> {
    const hsm = new SoftHsm(o, file, new Map());
    await writeKeyFile(file, { master: hsm.masterCheck, keys: new Map() }, true);
    return hsm;
  }

  /**
   * Opens a key file. Refuses (SW_ERR_SEC_KEY_FILE) one that is missing, readable by other users, malformed or
   * written under another master key, and (SW_ERR_SEC_KEY_TAMPERED) one with an entry that does not unseal or
   * whose check value is not the one recorded.
   */
  static async open(file: string, o: SoftHsmOptions): Promise<SoftHsm> {
    const content = await readKeyFile(file);
    const hsm = new SoftHsm(o, file, new Map(content.keys));
    if (content.master !== hsm.masterCheck) {
      throw new SwitchError('SW_ERR_SEC_KEY_FILE', {
        file,
        reason: `was written under another master key (its check value ${content.master}, this master key's ${hsm.masterCheck})`,
      });
    }
    for (const [name, sealed] of content.keys) {
      const clear = hsm.unseal(name, sealed);
      try {
        if (clear.length !== sealed.length || hexUpper(checkValue(clear).subarray(0, 3)) !== sealed.kcv) throw hsm.tampered(name);
      } finally {
        wipe(clear);
      }
    }
    return hsm;
  }

  // ── KeyStore ───────────────────────────────────────────────────────────────────────────────────────

  async translatePin(pinBlock: Uint8Array, fromKey: string, toKey: string, pan: string): Promise<Buffer> {
    const op = 'translate a PIN block';
    requireBytes(pinBlock, op, 'the PIN block', [8]);
    wipe(panField(pan));
    this.usable(fromKey, 'pin', op);
    this.usable(toKey, 'pin', op);
    const clear = this.withKey(fromKey, 'pin', op, (k) => tdesDecryptEcb(k, pinBlock));
    try {
      try {
        wipe(pinField0(clear, pan));
      } catch (e) {
        // one reason for every way a block can be wrong: no oracle on its nibbles (docs/security.md)
        if (e instanceof SwitchError && e.code === 'SW_ERR_SEC_PIN_BLOCK') {
          throw new SwitchError('SW_ERR_SEC_PIN_BLOCK', { reason: `it does not decrypt under ${fromKey} to a format 0 PIN block for this PAN` });
        }
        throw e;
      }
      return this.withKey(toKey, 'pin', op, (k) => tdesEncryptEcb(k, clear));
    } finally {
      wipe(clear);
    }
  }

  async generateMac(key: string, data: Uint8Array, opts?: MacOptions): Promise<Buffer> {
    const op = 'generate a MAC';
    requireBytes(data, op, 'the MAC data');
    const o = macOptions(op, opts);
    return this.withKey(key, 'mac', op, (k) => retailMac(k, data, o));
  }

  async verifyMac(key: string, data: Uint8Array, mac: Uint8Array, opts?: MacOptions): Promise<boolean> {
    const op = 'verify a MAC';
    requireBytes(data, op, 'the MAC data');
    requireBytes(mac, op, 'the MAC');
    const o = macOptions(op, opts);
    return this.withKey(key, 'mac', op, (k) => retailMacVerify(k, data, mac, o));
  }

  async importWorkingKey(name: string, encryptedUnderZmk: Uint8Array, zmkName: string, kcv: string | Uint8Array): Promise<KeyInfo> {
    const op = 'import a working key';
    try {
      const { type } = parseKeyName(name);
      if (!WORKING_KEY_TYPES.includes(type)) throw new SwitchError('SW_ERR_SEC_KEY_USAGE', { name, type, operation: 'be imported as a working key' });
      requireBytes(encryptedUnderZmk, op, 'the encrypted key', KEY_LENGTHS[type]);
      const want = expectedKcv(op, kcv);
      this.usable(zmkName, 'import', op);
      const clear = this.withKey(zmkName, 'import', op, (zmk) => tdesDecryptEcb(zmk, encryptedUnderZmk));
      let sealed: SealedKey;
      try {
        sealed = this.admit(name, clear, want);
      } finally {
        wipe(clear);
      }
      return await this.put(name, sealed, 'import');
    } catch (e) {
      this.log?.warn({ event: 'security.key.refused', name: safeName(name), code: e instanceof SwitchError ? e.code : 'error' }, 'working key import refused');
      throw e;
    }
  }

  async kcv(name: string): Promise<string> {
    return this.info(name).kcv;
  }

  async keyNames(): Promise<string[]> {
    this.masterKey();
    return [...this.keys.keys()].sort();
  }

  async close(): Promise<void> {
    await this.writes;
    this.master = null;
    this.keys.clear();
  }

  // ── administration (the keys CLI, tests) ─────────────────────────────────────────────────────────

  /** What the store tells about a key (never its value), or SW_ERR_SEC_KEY_NOT_FOUND. */
  info(name: string): KeyInfo {
    this.masterKey();
    const { type } = parseKeyName(name);
    const s = this.keys.get(name);
    if (!s) throw new SwitchError('SW_ERR_SEC_KEY_NOT_FOUND', { name });
    return { name, type, length: s.length, kcv: s.kcv };
  }

  /** Every key, by name. */
  list(): KeyInfo[] {
    this.masterKey();
    return [...this.keys.keys()].sort().map((n) => this.info(n));
  }

  /**
   * Stores a clear key (the caller wipes its buffer): the right length for its type, odd parity (unless
   * disabled), halves not equal, and the expected check value when one is given (SW_ERR_SEC_KCV_MISMATCH).
   */
  async loadKey(name: string, clear: Uint8Array, expected?: string | Uint8Array): Promise<KeyInfo> {
    parseKeyName(name);
    requireBytes(clear, 'load a key', 'the key');
    const sealed = this.admit(name, clear, expected === undefined ? undefined : expectedKcv('load a key', expected));
    return this.put(name, sealed, 'hex');
  }

  /**
   * Stores the XOR of 2..9 components of the same length (a key ceremony: each custodian keys in one). The
   * result's parity is set odd, which DES ignores and so leaves its check value as it is; each component's own
   * check value is what a custodian compares (`componentCheckValue`).
   */
  async loadComponents(name: string, components: readonly Uint8Array[], expected?: string | Uint8Array): Promise<KeyInfo> {
    const op = 'load a key from components';
    parseKeyName(name);
    if (!Array.isArray(components) || components.length < 2 || components.length > 9) throw badInput(op, 'a key is formed of 2 to 9 components');
    const first = requireBytes(components[0], op, 'component 1');
    components.forEach((c, i) => requireBytes(c, op, `component ${i + 1}`, [first.length]));
    const want = expected === undefined ? undefined : expectedKcv(op, expected);
    let key: Buffer = Buffer.from(first);
    try {
      for (const c of components.slice(1)) {
        const next = xor(key, c);
        wipe(key);
        key = next;
      }
      forceOddParity(key);
      const sealed = this.admit(name, key, want);
      return await this.put(name, sealed, 'components');
    } finally {
      wipe(key);
    }
  }

  // ── inside ─────────────────────────────────────────────────────────────────────────────────────────

  private tampered(name: string): SwitchError {
    return new SwitchError('SW_ERR_SEC_KEY_TAMPERED', { name, store: this.file ?? 'memory' });
  }

  private masterKey(): KeyObject {
    if (!this.master) throw new SwitchError('SW_ERR_SEC_CLOSED', {});
    return this.master;
  }

  /** The checks of a key about to be stored, then its sealed form. Throws without storing anything. */
  private admit(name: string, clear: Uint8Array, want: Buffer | undefined): SealedKey {
    const { type } = parseKeyName(name);
    if (!KEY_LENGTHS[type].includes(clear.length)) {
      throw new SwitchError('SW_ERR_SEC_KEY_LENGTH', { name, type, length: clear.length, expected: KEY_LENGTHS[type].join(' or ') });
    }
    if (this.parity === 'enforce' && !hasOddParity(clear)) throw new SwitchError('SW_ERR_SEC_KEY_PARITY', { name });
    // K1 = K2 (or K2 = K3) makes TDES single DES
    const k1 = clear.subarray(0, 8);
    const k2 = clear.subarray(8, 16);
    const k3 = clear.length === 24 ? clear.subarray(16, 24) : null;
    if (crypto.timingSafeEqual(k1, k2) || (k3 !== null && crypto.timingSafeEqual(k2, k3))) throw new SwitchError('SW_ERR_SEC_WEAK_KEY', { name });
    const cv = checkValue(clear);
    try {
      if (want !== undefined && !crypto.timingSafeEqual(cv.subarray(0, want.length), want)) {
        throw new SwitchError('SW_ERR_SEC_KCV_MISMATCH', { name, expected: hexUpper(want) });
      }
      return this.seal(name, clear, hexUpper(cv.subarray(0, 3)));
    } finally {
      wipe(cv);
    }
  }

  private seal(name: string, clear: Uint8Array, kcv: string): SealedKey {
    const nonce = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', this.masterKey(), nonce, { authTagLength: 16 });
    c.setAAD(Buffer.from(name, 'utf8'));
    const data = Buffer.concat([c.update(clear), c.final()]);
    return { length: clear.length, kcv, nonce, data, tag: c.getAuthTag(), updated: this.now().toISOString() };
  }

  /** The clear key of a sealed entry (the caller wipes it), or SW_ERR_SEC_KEY_TAMPERED. */
  private unseal(name: string, s: SealedKey): Buffer {
    const d = crypto.createDecipheriv('aes-256-gcm', this.masterKey(), s.nonce, { authTagLength: 16 });
    d.setAAD(Buffer.from(name, 'utf8'));
    d.setAuthTag(s.tag);
    const out = d.update(s.data);
    try {
      const rest = d.final();
      if (rest.length !== 0) throw new Error('unexpected GCM output');
      return out;
    } catch {
      wipe(out);
      throw this.tampered(name);
    }
  }

  /** Refuses a key of the wrong kind before any key is unsealed (SW_ERR_SEC_KEY_USAGE, SW_ERR_SEC_KEY_NOT_FOUND). */
  private usable(name: string, use: KeyUse, operation: string): void {
    this.masterKey();
    const { type } = parseKeyName(name);
    if (KEY_USE[type] !== use) throw new SwitchError('SW_ERR_SEC_KEY_USAGE', { name, type, operation });
    if (!this.keys.has(name)) throw new SwitchError('SW_ERR_SEC_KEY_NOT_FOUND', { name });
  }

  /** Runs `fn` on the clear key of `name`, wiped afterwards whatever happens. */
  private withKey<T>(name: string, use: KeyUse, operation: string, fn: (clear: Buffer) => T): T {
    this.usable(name, use, operation);
    const clear = this.unseal(name, this.keys.get(name)!);
    try {
      return fn(clear);
    } finally {
      wipe(clear);
    }
  }

  /** Stores a sealed key: the key file is rewritten first (when there is one), then the key is live. */
  private put(name: string, sealed: SealedKey, source: KeySource): Promise<KeyInfo> {
    const run = this.writes.then(async () => {
      this.masterKey();
      if (this.file !== null) {
        const next = new Map(this.keys);
        next.set(name, sealed);
        await writeKeyFile(this.file, { master: this.masterCheck, keys: next });
      }
      this.keys.set(name, sealed);
      this.log?.info({ event: 'security.key.stored', name, kcv: sealed.kcv, length: sealed.length, source }, 'key stored');
      return this.info(name);
    });
    this.writes = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** A name fit for a log line: the name when it is valid, else a placeholder (an invalid one might be anything). */
function safeName(name: unknown): string {
  try {
    return parseKeyName(name).name;
  } catch {
    return '(invalid)';
  }
}
