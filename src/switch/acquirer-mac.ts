/**
 * The MAC on an acquirer link and the key exchange that replaces its working keys (docs/security.md, "MAC" and
 * "Key exchange"). The link (src/net/link) knows neither keys nor cryptography: it calls the LinkGuard made here on
 * every message it sends or receives, and the NetworkRequestHandler on an inbound 0800 DE70 161/162.
 */
import type { Logger } from 'pino';
import type { Codec, DialectSpec } from '../iso8583/codec-types.js';
import { IsoMessage } from '../iso8583/message.js';
import type { LinkGuard, NetworkRequestHandler } from '../net/index.js';
import { errorSummary, SwitchError } from '../errors.js';
import type { AcquirerDef } from '../routing/types.js';
import { KEY_USE, parseKeyName, type KeyInfo, type KeyStore } from '../security/key-store.js';
import { macInput, type MacLength, type MacPadding } from '../security/mac.js';

/** Bytes of a check value in a key field: 3, shown and compared as 6 hex digits (docs/security.md, "Key store"). */
export const KEY_FIELD_KCV_BYTES = 3;

export interface MacSettings {
  key: string;
  field: 64 | 128 | 'last';
  padding: MacPadding;
  length: MacLength;
}

export interface KeyExchangeSettings {
  field: number;
  key: string;
  zmk: string;
  failureCode: string;
}

/** The acquirer's `mac` block with its defaults, or null when it has none. */
export function macSettings(def: AcquirerDef): MacSettings | null {
  const m = def.mac;
  if (!m) return null;
  return { key: m.key ?? `tak:${def.id}`, field: m.field ?? 'last', padding: m.padding ?? 1, length: m.length ?? 8 };
}

/** The acquirer's `key_exchange` block with its defaults, or null when it has none. */
export function keyExchangeSettings(def: AcquirerDef): KeyExchangeSettings | null {
  const k = def.key_exchange;
  if (!k) return null;
  return { field: k.field ?? 48, key: k.key ?? def.mac?.key ?? `tak:${def.id}`, zmk: k.zmk ?? `zmk:${def.id}`, failureCode: k.failure_code ?? '30' };
}

const ZERO_MAC = Buffer.alloc(8);

/** Packed size of a MAC field (DE64, DE128): 8 bytes binary, 16 hex characters; another encoding is refused. */
function macFieldBytes(spec: DialectSpec, field: 64 | 128, acquirer: string): number {
  const f = spec.fields[String(field)];
  if (!f || f.type !== 'b' || f.length !== 8 || f.prefix !== undefined || (f.encoding !== 'binary' && f.encoding !== 'hex')) {
    throw new SwitchError('SW_ERR_CONFIG_INVALID', {
      path: `acquirers.${acquirer}.mac`,
      reason: `dialect ${spec.name} has no DE${field} of 8 fixed bytes (binary or hex) to carry the MAC`,
    });
  }
  return f.encoding === 'hex' ? 16 : 8;
}

/**
 * The MAC of every message on one acquirer link. Sending: the MAC field (the message's last: DE64, or DE128 when
 * it has a secondary bitmap or `field` is 128) is packed as 8 zero bytes, the MAC of everything before it written
 * over them. Receiving: the MAC field must be the last bytes of the message as received and must verify over the
 * bytes before it, else the message counts as not received (src/net/link/guard.ts).
 */
export class MacGuard implements LinkGuard {
  private readonly size: Readonly<Record<64 | 128, number>>;
  private readonly hex: boolean;

  constructor(
    private readonly keys: KeyStore,
    private readonly s: MacSettings,
    spec: DialectSpec,
    acquirer: string,
  ) {
    this.size = { 64: macFieldBytes(spec, 64, acquirer), 128: macFieldBytes(spec, 128, acquirer) };
    this.hex = this.size[64] === 16;
  }

  /** The field the MAC of this message goes in. */
  fieldOf(msg: IsoMessage): 64 | 128 {
    if (this.s.field === 128) return 128;
    for (const f of msg.fieldNumbers()) if (f > 64 && f !== 128) return 128;
    return 64;
  }

  prepare(msg: IsoMessage): IsoMessage {
    const m = msg.clone();
    m.delete(64).delete(128);
    return m.set(this.fieldOf(m), ZERO_MAC);
  }

  async seal(packed: Buffer): Promise<Buffer> {
    const n = this.hex ? 16 : 8;
    const tail = packed.subarray(packed.length - n);
    // the filler must be the last bytes: a field packed after it would not be covered
    if (packed.length < n || tail.some((b) => b !== (this.hex ? 0x30 : 0))) {
      throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation: 'MAC a message', reason: 'its MAC field is not its last field' });
    }
    const mac = await this.keys.generateMac(this.s.key, macInput(packed, n), { padding: this.s.padding, length: this.s.length });
    const full = Buffer.alloc(8);
    mac.copy(full);
    if (this.hex) tail.write(full.toString('hex').toUpperCase(), 'ascii');
    else full.copy(tail);
    return packed;
  }

  check(packed: Buffer, msg: IsoMessage): Promise<boolean> {
    const field = msg.has(128) ? 128 : msg.has(64) ? 64 : null;
    if (field === null) return Promise.resolve(false);
    const n = this.size[field];
    if (packed.length <= n) return Promise.resolve(false);
    // taken now: `packed` may be a view the reassembler reuses
    const tail = packed.subarray(packed.length - n);
    const received = this.hex ? Buffer.from(tail.toString('ascii'), 'hex') : Buffer.from(tail);
    const value = msg.get(field);
    // the MAC field must be the message's last bytes, so the MAC covers every other field
    if (received.length !== 8 || !Buffer.isBuffer(value) || !value.equals(received)) return Promise.resolve(false);
    const data = macInput(packed, n);
    return this.keys.verifyMac(this.s.key, data, received.subarray(0, this.s.length), { padding: this.s.padding, length: this.s.length });
  }
}

/**
 * The encrypted key and its check value in a key field: in a binary field the key's bytes (16 or 24) then the
 * check value's 3; in a text field the same as hex digits (32 or 48, then 6). SW_ERR_SEC_BAD_INPUT otherwise.
 */
export function parseKeyField(value: unknown): { encrypted: Buffer; kcv: Buffer } {
  let bytes: Buffer | null = null;
  if (Buffer.isBuffer(value)) bytes = value;
  else if (typeof value === 'string' && /^(?:[0-9A-Fa-f]{2})+$/.test(value)) bytes = Buffer.from(value, 'hex');
  const keyLength = bytes ? bytes.length - KEY_FIELD_KCV_BYTES : 0;
  if (!bytes || (keyLength !== 16 && keyLength !== 24)) {
    throw new SwitchError('SW_ERR_SEC_BAD_INPUT', {
      operation: 'import a working key',
      reason: 'the key field holds no encrypted key of 16 or 24 bytes followed by a 3-byte check value',
    });
  }
  return { encrypted: Buffer.from(bytes.subarray(0, keyLength)), kcv: Buffer.from(bytes.subarray(keyLength)) };
}

/** The 0810 answering an 0800 (DE7, DE11, DE70 copied) with DE39 `rc`. */
function networkAnswer(msg: IsoMessage, rc: string): IsoMessage {
  const r = new IsoMessage('0810');
  for (const f of [7, 11, 70]) {
    const v = msg.get(f);
    if (v !== undefined) r.set(f, v);
  }
  return r.set(39, rc);
}

/**
 * Imports the working key a message carries (0800 161/162 from the acquirer, or the 0810 to the switch's 161):
 * resolves with what the store says of it (its check value), or rejects and leaves the old key in use.
 */
export async function importFromKeyField(keys: KeyStore, s: KeyExchangeSettings, msg: IsoMessage): Promise<KeyInfo> {
  const { encrypted, kcv } = parseKeyField(msg.get(s.field));
  try {
    return await keys.importWorkingKey(s.key, encrypted, s.zmk, kcv);
  } finally {
    encrypted.fill(0);
  }
}

/**
 * Answers an acquirer's 0800 DE70 161 or 162 (other codes: undefined, the link answers them): the key imported →
 * 0810 DE39 00, its later messages MACed under it; refused (check value, parity, a malformed field) → 0810 DE39
 * `failureCode`, the code logged, the old key kept.
 */
export function keyExchangeHandler(acquirer: string, keys: KeyStore, s: KeyExchangeSettings, log: Pick<Logger, 'info' | 'warn'>): NetworkRequestHandler {
  return (msg) => {
    const code = msg.getString(70);
    if (code !== '161' && code !== '162') return undefined;
    return importFromKeyField(keys, s, msg).then(
      (info) => {
        log.info({ acquirer, key: info.name, kcv: info.kcv, nmic: code }, 'working key imported from the acquirer');
        return networkAnswer(msg, '00');
      },
      (e: unknown) => {
        log.warn({ acquirer, key: s.key, nmic: code, ...errorSummary(e) }, 'key exchange refused: the old key stays in use');
        return networkAnswer(msg, s.failureCode);
      },
    );
  };
}

/**
 * Checks at start what an acquirer's `mac` and `key_exchange` need (a key store; the MAC key present and a MAC key;
 * the key field in the dialect) and builds the link's guard and 0800 handler.
 */
export async function acquirerSecurity(
  def: AcquirerDef,
  codec: Codec,
  keys: KeyStore | undefined,
  log: Pick<Logger, 'info' | 'warn'>,
): Promise<{ guard?: MacGuard; onNetworkRequest?: NetworkRequestHandler; keyExchange?: KeyExchangeSettings }> {
  const mac = macSettings(def);
  const kx = keyExchangeSettings(def);
  if (!mac && !kx) return {};
  if (!keys) throw new SwitchError('SW_ERR_SEC_NO_KEY_STORE', { acquirer: def.id, what: mac ? 'a MAC' : 'a key exchange' });
  const out: { guard?: MacGuard; onNetworkRequest?: NetworkRequestHandler; keyExchange?: KeyExchangeSettings } = {};
  if (mac) {
    const name = parseKeyName(mac.key);
    if (KEY_USE[name.type] !== 'mac') throw new SwitchError('SW_ERR_SEC_KEY_USAGE', { name: mac.key, type: name.type, operation: 'make MACs' });
    // SW_ERR_SEC_KEY_NOT_FOUND now rather than on the first message
    const kcv = await keys.kcv(mac.key);
    out.guard = new MacGuard(keys, mac, codec.spec, def.id);
    log.info({ acquirer: def.id, key: mac.key, kcv, field: mac.field, padding: mac.padding, length: mac.length }, 'acquirer link MAC on');
  }
  if (kx) {
    if (!codec.spec.fields[String(kx.field)]) {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', {
        path: `acquirers.${def.id}.key_exchange.field`,
        reason: `dialect ${codec.spec.name} has no DE${kx.field}`,
      });
    }
    out.onNetworkRequest = keyExchangeHandler(def.id, keys, kx, log);
    out.keyExchange = kx;
  }
  return out;
}
