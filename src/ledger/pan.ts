/**
 * The ledger never stores a PAN: only a keyed hash (HMAC-SHA-256, hex) and the masked PAN (first 6, last 4).
 *
 * Hashes are made with one of a set of keys, each with an id stored beside the hash (docs/security.md, "PAN hash
 * keys"): new hashes use the current key; a stored hash is compared with the card's hash under the key that made
 * it. A row written before key ids has none: it was hashed with the legacy key, id `k1` (LEGACY_PAN_KEY_ID).
 */
import crypto from 'node:crypto';
import { inspect } from 'node:util';

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

/** The id of the single key of earlier versions (PAN_HASH_KEY, or the generated one): what a stored null id means. */
export const LEGACY_PAN_KEY_ID = 'k1';
/** A key id: 1 to 16 letters, digits, `_` or `-` (it is stored with every hash). */
export const PAN_KEY_ID_PATTERN = '^[A-Za-z0-9_-]{1,16}$';
const KEY_ID_RE = new RegExp(PAN_KEY_ID_PATTERN);

export interface PanKey {
  readonly id: string;
  readonly secret: string | Buffer;
}

/** The key id a stored row names: its own, or the legacy key's for a row written before key ids. */
export function storedKeyId(id: string | null | undefined): string {
  return id ?? LEGACY_PAN_KEY_ID;
}

/**
 * One card's keyed hashes: under the current key at once, under another key of the set when asked (made once).
 * The digits stay in this closure; nothing of them, nor any key, is in the object's own properties.
 */
export interface CardHashes {
  /** The current key's id, stored with `hash`. */
  readonly keyId: string;
  readonly hash: string;
  readonly masked: string;
  /** The card's hash under key `id` (null: the legacy key); null when that key is not in the set. */
  under(id: string | null): string | null;
  /**
   * Whether a stored hash is this card's, under the key the row names: true or false; null when that key is
   * not in the set any more (nothing can tell, and the caller must not take it for the same card).
   */
  matches(storedHash: string, storedKey: string | null): boolean | null;
  /** The card's hashes under the other keys of the set, older first after the current (for blocklists). */
  others(): string[];
}

/**
 * The PAN hash keys: the first is the current one (new hashes), the others are kept to compare with rows they
 * made. The secrets are private: neither JSON nor util.inspect (pino, console) shows more than the ids.
 */
export class PanKeyRing {
  readonly #secrets: ReadonlyMap<string, string | Buffer>;
  /** The ids, the current one first. */
  readonly ids: readonly string[];

  constructor(keys: readonly PanKey[]) {
    if (keys.length === 0) throw new Error('PanKeyRing: at least one key');
    const m = new Map<string, string | Buffer>();
    for (const k of keys) {
      if (!KEY_ID_RE.test(k.id)) throw new Error(`PanKeyRing: key id must match ${PAN_KEY_ID_PATTERN}`);
      if (m.has(k.id)) throw new Error(`PanKeyRing: key id ${k.id} given twice`);
      m.set(k.id, k.secret);
    }
    this.#secrets = m;
    this.ids = keys.map((k) => k.id);
  }

  /** One key, the legacy id: what a single PAN_HASH_KEY is. */
  static single(secret: string | Buffer, id = LEGACY_PAN_KEY_ID): PanKeyRing {
    return new PanKeyRing([{ id, secret }]);
  }

  get currentId(): string {
    return this.ids[0]!;
  }

  /** Whether the key a stored row names (null: the legacy key) is in the set. */
  has(id: string | null): boolean {
    return this.#secrets.has(storedKeyId(id));
  }

  /** The PAN's hash under key `id` (null: the legacy key); null when that key is not in the set. */
  hash(pan: string, id: string | null): string | null {
    const secret = this.#secrets.get(storedKeyId(id));
    return secret === undefined ? null : crypto.createHmac('sha256', secret).update(pan.replace(/\D/g, '')).digest('hex');
  }

  /** Hash under the current key, its id and the mask: what is stored with a transaction. */
  protect(pan: string): ProtectedPan & { panKeyId: string } {
    const digits = pan.replace(/\D/g, '');
    return { panHash: this.hash(digits, this.currentId)!, panKeyId: this.currentId, panMasked: maskPan(digits) };
  }

  /** The card's hashes (see CardHashes): the current key's made now, the others on demand. */
  card(pan: string): CardHashes {
    const digits = pan.replace(/\D/g, '');
    const made = new Map<string, string | null>();
    const under = (id: string | null): string | null => {
      const k = storedKeyId(id);
      let h = made.get(k);
      if (h === undefined) {
        h = this.hash(digits, k);
        made.set(k, h);
      }
      return h;
    };
    const keyId = this.currentId;
    const others = this.ids.slice(1);
    return {
      keyId,
      hash: under(keyId)!,
      masked: maskPan(digits),
      under,
      matches: (storedHash, storedKey) => {
        const h = under(storedKey);
        return h === null ? null : h === storedHash;
      },
      others: () => others.map((id) => under(id)!),
    };
  }

  toJSON(): { current: string; ids: readonly string[] } {
    return { current: this.currentId, ids: this.ids };
  }

  [inspect.custom](): string {
    return `PanKeyRing { current: ${this.currentId}, ids: [${this.ids.join(', ')}] }`;
  }
}
