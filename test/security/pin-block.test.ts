/**
 * ISO 9564-1 PIN block format 0 (src/security/pin-block.ts): the published examples, every validation rule, and a
 * seeded round trip over all PIN lengths and PAN lengths.
 */
import t from 'tap';
import fc from 'fast-check';
import { isSwitchError } from '../../src/errors.js';
import { buildPinBlock0, panField, parsePinBlock0, pinField0 } from '../../src/security/pin-block.js';
import { propertyHolds, testSeed } from '../helpers/seed.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

t.test('published format 0 examples', async (t) => {
  // EFTlab / BP-Tools "PIN blocks" example (also in ID TECH's ISO 9564 format 0 notes):
  // PAN 43219876543210987, PIN 1234 → clear PIN block 0412AC89ABCDEF67, decoded PIN 1234
  t.equal(hex(buildPinBlock0('1234', '43219876543210987')), '0412AC89ABCDEF67');
  t.equal(parsePinBlock0(h('0412AC89ABCDEF67'), '43219876543210987').toString('latin1'), '1234');
  t.equal(hex(panField('43219876543210987')), '0000987654321098', 'PAN field: 12 digits before the check digit');
  // Thales payShield host command reference, PIN block format 01 (= ISO format 0) example:
  // PIN 92389, account 4000 0012 3456 2 → PIN field 0592389FFFFFFFFF, account field 0000400000123456, block 0592789FFFEDCBA9
  t.equal(hex(panField('4000001234562')), '0000400000123456');
  t.equal(hex(buildPinBlock0('92389', '4000001234562')), '0592789FFFEDCBA9');
  t.equal(parsePinBlock0(h('0592789FFFEDCBA9'), '4000001234562').toString('latin1'), '92389');
  t.equal(hex(pinField0(h('0592789FFFEDCBA9'), '4000001234562')), '0592389FFFFFFFFF', 'the clear PIN field');
});

t.test('the PAN field pads a short PAN with zeros on the left', async (t) => {
  t.equal(hex(panField('123456789')), '0000000012345678', '9 digits: 8 before the check digit');
  t.equal(hex(panField('1234567890123456789')), '0000789012345678', '19 digits: the 12 before the check digit');
});

const code = (e: unknown) => (isSwitchError(e) ? e.code : String(e));

t.test('every rule is checked, with a typed error that quotes no digit', async (t) => {
  const pan = '4000001234562';
  const cases: [string, () => unknown, string][] = [
    ['PIN of 3 digits', () => buildPinBlock0('123', pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['PIN of 13 digits', () => buildPinBlock0('1234567890123', pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['PIN with a letter', () => buildPinBlock0('12a4', pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['PIN with a space', () => buildPinBlock0('12 45', pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['PAN of 7 digits', () => buildPinBlock0('1234', '1234567'), 'SW_ERR_SEC_BAD_INPUT'],
    ['PAN of 20 digits', () => buildPinBlock0('1234', '12345678901234567890'), 'SW_ERR_SEC_BAD_INPUT'],
    ['PAN with a letter', () => buildPinBlock0('1234', '400000123456X'), 'SW_ERR_SEC_BAD_INPUT'],
    ['block of 7 bytes', () => parsePinBlock0(Buffer.alloc(7), pan), 'SW_ERR_SEC_BAD_INPUT'],
    ['block that is not bytes', () => parsePinBlock0('0592789FFFEDCBA9' as unknown as Uint8Array, pan), 'SW_ERR_SEC_BAD_INPUT'],
    // clear PIN fields XOR the PAN field 0000400000123456:
    ['control field 1 (format 1)', () => parsePinBlock0(h('1592789FFFEDCBA9'), pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['length 3', () => parsePinBlock0(h('0392789FFFEDCBA9'), pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['length 13', () => parsePinBlock0(h('0D92789FFFEDCBA9'), pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['a digit A', () => parsePinBlock0(h('05A2789FFFEDCBA9'), pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['a filler E', () => parsePinBlock0(h('0592789EFFEDCBA9'), pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['the last filler 0', () => parsePinBlock0(h('0592789FFFEDCBA6'), pan), 'SW_ERR_SEC_PIN_BLOCK'],
    ['the wrong PAN (fillers no longer F)', () => parsePinBlock0(h('0592789FFFEDCBA9'), '4000001234572'), 'SW_ERR_SEC_PIN_BLOCK'],
  ];
  for (const [what, fn, want] of cases) {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    t.equal(code(err), want, what);
    t.notMatch((err as Error | undefined)?.message ?? '', /[0-9]{4,}/, `${what}: no digits in the message`);
  }
});

t.test('a 12-digit PIN fills the block; digits at both nibble positions round trip', async (t) => {
  const pan = '5500000000000004';
  const block = buildPinBlock0('012345678909', pan);
  t.equal(hex(pinField0(block, pan)), '0C012345678909FF');
  t.equal(parsePinBlock0(block, pan).toString('latin1'), '012345678909');
  t.equal(hex(pinField0(buildPinBlock0(Buffer.from('4321'), pan), pan)), '044321FFFFFFFFFF', 'a PIN given as ASCII bytes');
});

t.test('round trip: parse(build(pin, pan), pan) = pin for every PIN and PAN length (seeded)', async (t) => {
  const seed = testSeed(t, 95641);
  const pin = fc.stringMatching(/^[0-9]{4,12}$/);
  const pan = fc.stringMatching(/^[0-9]{8,19}$/);
  await propertyHolds(
    t,
    fc.property(pin, pan, (p, a) => {
      const block = buildPinBlock0(p, a);
      return block.length === 8 && parsePinBlock0(block, a).toString('latin1') === p && block[0]! >> 4 === 0 && (block[0]! & 15) === p.length;
    }),
    { seed, numRuns: 500 },
    'format 0 round trip',
  );
});
