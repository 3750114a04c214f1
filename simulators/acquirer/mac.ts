/**
 * The simulator's side of the link MAC and key exchange (docs/security.md, "MAC", "Key exchange"), written apart from
 * the switch's (src/switch/acquirer-mac.ts) so each checks the other: the same ISO/IEC 9797-1 algorithm 3 primitive
 * (src/security/mac.ts, pinned to published vectors and openssl), its own placement of the MAC in the message.
 * Its keys are clear hex in its options: a test peer, never a place for real keys.
 */
import type { Codec } from '../../src/iso8583/codec-types.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { retailMac, retailMacVerify, type MacLength, type MacPadding } from '../../src/security/mac.js';
import { checkValue, forceOddParity, tdesEncryptEcb } from '../../src/security/des.js';

export interface SimulatorMacOptions {
  /** The MAC key K || K' (32 hex digits), the same as the switch's tak:<acquirer>. */
  tak: string;
  /** The zone master key (32 or 48 hex digits) new MAC keys are sent under; needed for a key exchange. */
  zmk?: string;
  /** Default 'last': DE64, or DE128 on a message with a secondary bitmap. */
  field?: 64 | 128 | 'last';
  padding?: MacPadding;
  length?: MacLength;
  /** Field of the key exchange's key and check value (default 48). */
  keyField?: number;
}

export class SimMac {
  tak: Buffer;
  readonly zmk: Buffer | null;
  readonly field: 64 | 128 | 'last';
  readonly padding: MacPadding;
  readonly length: MacLength;
  readonly keyField: number;
  private readonly hex: boolean;

  constructor(
    o: SimulatorMacOptions,
    private readonly codec: Codec,
  ) {
    this.tak = Buffer.from(o.tak, 'hex');
    if (this.tak.length !== 16) throw new RangeError('simulator mac.tak: 32 hex digits');
    this.zmk = o.zmk ? Buffer.from(o.zmk, 'hex') : null;
    if (this.zmk && this.zmk.length !== 16 && this.zmk.length !== 24) throw new RangeError('simulator mac.zmk: 32 or 48 hex digits');
    this.field = o.field ?? 'last';
    this.padding = o.padding ?? 1;
    this.length = o.length ?? 8;
    this.keyField = o.keyField ?? 48;
    this.hex = codec.spec.fields['64']?.encoding === 'hex';
  }

  /** The key's check value, 6 hex digits. */
  static kcv(key: Uint8Array): string {
    return checkValue(key).subarray(0, 3).toString('hex').toUpperCase();
  }

  /** Packs `msg` with its MAC under `key` (default the current one); `corrupt` flips a bit of the MAC. */
  pack(msg: IsoMessage, key: Buffer = this.tak, corrupt = false): Buffer {
    const m = msg.clone();
    m.delete(64).delete(128);
    const high = this.field === 128 || m.fieldNumbers().some((f) => f > 64);
    m.set(high ? 128 : 64, Buffer.alloc(8));
    const packed = this.codec.pack(m);
    const n = this.hex ? 16 : 8;
    const mac = Buffer.alloc(8);
    retailMac(key, packed.subarray(0, packed.length - n), { padding: this.padding, length: this.length }).copy(mac);
    if (corrupt) mac[0] = mac[0]! ^ 0x01;
    if (this.hex) packed.write(mac.toString('hex').toUpperCase(), packed.length - n, 'ascii');
    else mac.copy(packed, packed.length - n);
    return packed;
  }

  /** Whether the message's MAC (its last field) verifies under `key` (default the current one). */
  verify(payload: Buffer, msg: IsoMessage, key: Buffer = this.tak): boolean {
    const f = msg.has(128) ? 128 : msg.has(64) ? 64 : 0;
    if (f === 0) return false;
    const n = this.hex ? 16 : 8;
    const value = msg.get(f);
    const tail = payload.subarray(payload.length - n);
    const mac = this.hex ? Buffer.from(tail.toString('ascii'), 'hex') : Buffer.from(tail);
    if (!Buffer.isBuffer(value) || !value.equals(mac)) return false;
    return retailMacVerify(key, payload.subarray(0, payload.length - n), mac.subarray(0, this.length), { padding: this.padding, length: this.length });
  }

  /**
   * A new MAC key from `random` (odd parity, halves distinct) and the key field's value: the key under the ZMK, then
   * its check value (3 bytes; one flipped when `wrongKcv`), as hex digits in a text field or bytes in a binary one.
   */
  newKey(random: (n: number) => Buffer, wrongKcv: boolean): { key: Buffer; fieldValue: string | Buffer; kcv: string } {
    if (!this.zmk) throw new Error('simulator: a key exchange needs mac.zmk');
    let key: Buffer;
    do {
      key = random(16);
      forceOddParity(key);
    } while (key.subarray(0, 8).equals(key.subarray(8)));
    const kcv = checkValue(key).subarray(0, 3);
    if (wrongKcv) kcv[2] = kcv[2]! ^ 0xff;
    const value = Buffer.concat([tdesEncryptEcb(this.zmk, key), kcv]);
    const binary = this.codec.spec.fields[String(this.keyField)]?.type === 'b';
    return { key, fieldValue: binary ? value : value.toString('hex').toUpperCase(), kcv: SimMac.kcv(key) };
  }
}
