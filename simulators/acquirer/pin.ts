/**
 * The simulator's PIN check (docs/security.md, "PIN translation"): it decrypts DE52 under its zone PIN key, reads
 * the ISO 9564-1 format 0 block for the request's PAN and compares the PIN with the one it expects for the card.
 * Written apart from the switch's src/security/pin-block.ts (own format 0 code, TDES ECB from node:crypto), so a
 * test that passes through both checks one against the other.
 *
 * TEST PEER ONLY: the key is clear hex in the options, and the PINs are plain text. Never a place for real keys.
 */
import crypto from 'node:crypto';
import type { IsoMessage } from '../../src/iso8583/message.js';

export interface SimulatorPinOptions {
  /** The acquirer's zone PIN key in clear, 32 or 48 hex digits: the same as the switch's zpk:<acquirer>. */
  zpk: string;
  /** The PIN of each card, by full PAN. */
  pins?: Record<string, string>;
  /** The PIN of every card not in `pins` (default 1234). */
  pin?: string;
  /** DE39 for a wrong PIN, or a block that does not decrypt to a format 0 block for the PAN (default 55). */
  wrongPinCode?: string;
}

/** What the simulator made of one PIN block. */
export type PinVerdict = 'correct' | 'wrong' | 'unreadable';

/** One check, kept for the tests: the block as received (hex), since the simulator is a test peer. */
export interface PinCheckEntry {
  stan: string | undefined;
  pinBlock: string;
  verdict: PinVerdict;
}

/** TDES ECB decryption of one 8-byte block; a double-length key is used as K1 K2 K1. */
function tdesDecrypt(key: Buffer, block: Buffer): Buffer {
  const k = key.length === 16 ? Buffer.concat([key, key.subarray(0, 8)]) : key;
  const d = crypto.createDecipheriv('des-ede3', k, null).setAutoPadding(false);
  return Buffer.concat([d.update(block), d.final()]);
}

/** The PIN of a format 0 block for `pan`, or null when the block is not one. */
export function readPinBlock0(clear: Buffer, pan: string): string | null {
  if (clear.length !== 8 || !/^[0-9]{8,19}$/.test(pan)) return null;
  const panHex = `0000${pan.slice(0, -1).slice(-12).padStart(12, '0')}`;
  const field = Buffer.from(clear.toString('hex'), 'hex');
  const panField = Buffer.from(panHex, 'hex');
  for (let i = 0; i < 8; i++) field[i] = field[i]! ^ panField[i]!;
  const nibbles = field.toString('hex').toUpperCase();
  if (nibbles[0] !== '0') return null;
  const n = parseInt(nibbles[1]!, 16);
  if (n < 4 || n > 12) return null;
  const pin = nibbles.slice(2, 2 + n);
  if (!/^[0-9]+$/.test(pin) || !/^F*$/.test(nibbles.slice(2 + n))) return null;
  return pin;
}

export class SimPin {
  private readonly key: Buffer;
  readonly wrongPinCode: string;
  private readonly entries: PinCheckEntry[] = [];

  constructor(private readonly o: SimulatorPinOptions) {
    if (!/^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48})$/.test(o.zpk)) throw new RangeError('simulator pin.zpk: 32 or 48 hex digits');
    this.key = Buffer.from(o.zpk, 'hex');
    this.wrongPinCode = o.wrongPinCode ?? '55';
  }

  /** The verdict on the request's DE52, or null when it has none (no PIN, nothing to check). */
  check(req: IsoMessage): PinVerdict | null {
    const v = req.get(52);
    if (v === undefined) return null;
    const block = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'hex') : Buffer.alloc(0);
    const pan = req.get(2);
    let verdict: PinVerdict = 'unreadable';
    if (block.length === 8 && typeof pan === 'string') {
      const pin = readPinBlock0(tdesDecrypt(this.key, block), pan);
      if (pin !== null) verdict = pin === (this.o.pins?.[pan] ?? this.o.pin ?? '1234') ? 'correct' : 'wrong';
    }
    const stan = req.get(11);
    this.entries.push({ stan: typeof stan === 'string' ? stan : undefined, pinBlock: block.toString('hex').toUpperCase(), verdict });
    if (this.entries.length > 1000) this.entries.shift();
    return verdict;
  }

  /** The checks made so far, oldest first (at most the last 1000). */
  checks(): PinCheckEntry[] {
    return [...this.entries];
  }
}
