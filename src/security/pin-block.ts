/**
 * ISO 9564-1 PIN block format 0 (ANSI X9.8, "ISO-0"), docs/security.md, "PIN translation".
 *
 *   PIN field  0 N P P P P P/F … P/F      N = PIN length 4..12, P = digit, F = filler 0xF
 *   PAN field  0 0 0 0 A1 … A12           the 12 rightmost PAN digits before the check digit, zero-padded left
 *   PIN block = PIN field XOR PAN field
 *
 * Clear PINs are handled as bytes so they can be wiped; a string PIN (tests, a terminal simulator) cannot be.
 * Errors say which rule failed, never a digit of the PIN or the PAN. The soft HSM turns every failure inside a
 * translation into one generic reason, so a translation cannot be used to probe a block nibble by nibble.
 */
import { SwitchError } from '../errors.js';
import { wipe, xor } from './bytes.js';

const PAN = /^[0-9]{8,19}$/;

function bad(operation: string, reason: string): SwitchError {
  return new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation, reason });
}

function invalid(reason: string): SwitchError {
  return new SwitchError('SW_ERR_SEC_PIN_BLOCK', { reason });
}

/** The 8-byte PAN field of format 0 (8..19 digits, check digit last), or SW_ERR_SEC_BAD_INPUT. */
export function panField(pan: string): Buffer {
  if (typeof pan !== 'string' || !PAN.test(pan)) throw bad('build or read a PIN block', 'the PAN must be 8 to 19 digits');
  const digits = pan.slice(0, -1).slice(-12).padStart(12, '0');
  return Buffer.from(`0000${digits}`, 'hex');
}

/** The clear PIN as ASCII digit bytes (4..12 of them), or SW_ERR_SEC_PIN_BLOCK. */
function pinDigits(pin: string | Uint8Array): Buffer {
  const out = typeof pin === 'string' ? Buffer.from(pin, 'latin1') : Buffer.from(pin);
  const ok = out.length >= 4 && out.length <= 12 && out.every((c) => c >= 0x30 && c <= 0x39);
  if (!ok) {
    wipe(out);
    throw invalid('the PIN must be 4 to 12 digits');
  }
  return out;
}

/** The format 0 PIN block of `pin` (digits, as text or ASCII bytes) for `pan`. */
export function buildPinBlock0(pin: string | Uint8Array, pan: string): Buffer {
  const pf = panField(pan);
  const digits = pinDigits(pin);
  const field = Buffer.alloc(8, 0xff);
  try {
    field[0] = digits.length; // control 0, length N
    for (let i = 0; i < digits.length; i++) {
      const d = digits[i]! - 0x30;
      const at = 1 + (i >> 1);
      field[at] = i % 2 === 0 ? (d << 4) | 0x0f : (field[at]! & 0xf0) | d;
    }
    return xor(field, pf);
  } finally {
    wipe(field, digits, pf);
  }
}

/**
 * The clear PIN field of a format 0 block (block XOR PAN field), checked: control nibble 0, length 4..12,
 * digits 0-9, fillers F. The caller wipes the result; on failure nothing is left behind.
 */
export function pinField0(block: Uint8Array, pan: string): Buffer {
  if (!(block instanceof Uint8Array) || block.length !== 8) throw bad('build or read a PIN block', 'a PIN block is 8 bytes');
  const pf = panField(pan);
  const field = xor(block, pf);
  wipe(pf);
  try {
    const control = field[0]! >> 4;
    const n = field[0]! & 0x0f;
    if (control !== 0) throw invalid('the control field is not 0 (not a format 0 block)');
    if (n < 4 || n > 12) throw invalid('the PIN length is outside 4..12');
    for (let i = 0; i < 14; i++) {
      const nibble = (field[1 + (i >> 1)]! >> (i % 2 === 0 ? 4 : 0)) & 0x0f;
      if (i < n && nibble > 9) throw invalid('a PIN digit is not 0-9');
      if (i >= n && nibble !== 0x0f) throw invalid('a filler digit is not F');
    }
    return field;
  } catch (e) {
    wipe(field);
    throw e;
  }
}

/** The clear PIN of a format 0 block as ASCII digit bytes. The caller wipes it (`fill(0)`). */
export function parsePinBlock0(block: Uint8Array, pan: string): Buffer {
  const field = pinField0(block, pan);
  try {
    const n = field[0]! & 0x0f;
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = 0x30 + ((field[1 + (i >> 1)]! >> (i % 2 === 0 ? 4 : 0)) & 0x0f);
    return out;
  } finally {
    wipe(field);
  }
}
