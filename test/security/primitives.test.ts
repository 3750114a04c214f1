/**
 * The DES/TDES steps, key check values and the ISO 9797-1 algorithm 3 MAC (src/security/des.ts, mac.ts) against
 * published test vectors, each with its source, and against the openssl command line on seeded random input.
 */
import t from 'tap';
import crypto from 'node:crypto';
import { checkValue, desEncryptEcb, forceOddParity, hasOddParity, tdesDecryptEcb, tdesEncryptEcb } from '../../src/security/des.js';
import { macInput, padIso9797, retailMac, retailMacVerify } from '../../src/security/mac.js';
import { seededRandom, testSeed } from '../helpers/seed.js';
import { opensslRetailMac, opensslTdesEcb } from './openssl.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const ascii = (s: string) => Buffer.from(s, 'latin1');

/** The ANSI X9.24 / ISO 9797-1 Annex B test key K || K'. */
const ANSI_KEY = h('0123456789ABCDEF FEDCBA9876543210');

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

t.test('single DES as TDES with K1 = K2: the published DES vectors', async (t) => {
  // OpenSSL crypto/des/destest.c ecb_data/cipher_data (Eric Young's libdes vectors, also in mbed TLS's
  // test_suite_des "openssl test vector 34"): key 0123456789ABCDEF, plain 0000000000000000 → D5D44FF720683D0D
  t.equal(hex(desEncryptEcb(h('0123456789ABCDEF'), Buffer.alloc(8))), 'D5D44FF720683D0D');
  // the same table: key FEDCBA9876543210, plain FFFFFFFFFFFFFFFF → 2A2BB008DF97C2F2
  t.equal(hex(desEncryptEcb(h('FEDCBA9876543210'), h('FFFFFFFFFFFFFFFF'))), '2A2BB008DF97C2F2');
  t.throws(() => desEncryptEcb(Buffer.alloc(7), Buffer.alloc(8)), RangeError, 'a DES key is 8 bytes');
});

t.test('key check values', async (t) => {
  // single length: the DES vector above, first 3 bytes shown (Thales KMU "KCV Calculation", AS 2805.6.3)
  t.equal(hex(checkValue(h('0123456789ABCDEF'))).slice(0, 6), 'D5D44F');
  // double length: the check value of the ANSI test key (0123456789ABCDEFFEDCBA9876543210, "the ANSI standard
  // key" of ID TECH's key-loading notes, the X9.24-1 Annex A DUKPT test BDK): 08D7B4, the value vendor SDK demos
  // print for that key; the openssl command line computes the same below
  t.equal(hex(checkValue(ANSI_KEY)), '08D7B4FB629D0885');
  t.equal(hex(await opensslTdesEcb(ANSI_KEY, Buffer.alloc(8))), '08D7B4FB629D0885', 'openssl -des-ede');
  // triple length K1 K2 K1 is the double-length key
  t.equal(hex(checkValue(Buffer.concat([ANSI_KEY, ANSI_KEY.subarray(0, 8)]))), '08D7B4FB629D0885', 'K1 K2 K1 = K1 K2');
});

t.test('TDES ECB agrees with openssl on seeded random keys and data (16 and 24 byte keys)', async (t) => {
  const rnd = seededRandom(testSeed(t, 9564));
  for (const len of [16, 24, 16, 24]) {
    const key = randomBytes(rnd, len);
    const data = randomBytes(rnd, 8 * (1 + Math.floor(rnd() * 4)));
    const ours = tdesEncryptEcb(key, data);
    t.equal(hex(ours), hex(await opensslTdesEcb(key, data)), `${len}-byte key, ${data.length} bytes: encrypt`);
    t.equal(hex(tdesDecryptEcb(key, ours)), hex(data), 'decrypt inverts encrypt');
    t.equal(hex(await opensslTdesEcb(key, ours, true)), hex(data), 'openssl decrypts ours');
  }
  t.throws(() => tdesEncryptEcb(Buffer.alloc(8), Buffer.alloc(8)), RangeError, 'TDES keys are 16 or 24 bytes');
  t.throws(() => tdesEncryptEcb(Buffer.alloc(16), Buffer.alloc(7)), RangeError, 'whole blocks only');
  t.throws(() => tdesEncryptEcb(Buffer.alloc(16), Buffer.alloc(0)), RangeError, 'no empty data');
});

t.test('odd parity', async (t) => {
  t.ok(hasOddParity(ANSI_KEY), 'the ANSI test key has odd parity');
  t.notOk(hasOddParity(h('0023456789ABCDEF')), '00 has even parity');
  const k = h('0022446688AACCEE');
  forceOddParity(k);
  t.equal(hex(k), '0123456789ABCDEF', 'bit 0 set where needed');
  t.ok(hasOddParity(k));
  t.equal(hex(checkValue(h('0022446688AACCEE'))), hex(checkValue(k)), 'DES ignores the parity bits');
});

t.test('ISO 9797-1 padding methods 1 and 2', async (t) => {
  t.equal(hex(padIso9797(ascii('ABC'), 1)), '4142430000000000');
  t.equal(hex(padIso9797(ascii('ABC'), 2)), '4142438000000000');
  t.equal(padIso9797(Buffer.alloc(8, 1), 1).length, 8, 'method 1 adds nothing to whole blocks');
  t.equal(hex(padIso9797(Buffer.alloc(8, 1), 2).subarray(8)), '8000000000000000', 'method 2 always adds');
  t.equal(hex(padIso9797(Buffer.alloc(0), 1)), '0000000000000000', 'method 1: the empty string is one zero block');
  t.equal(hex(padIso9797(Buffer.alloc(0), 2)), '8000000000000000');
});

t.test('retail MAC (ISO 9797-1 algorithm 3): published vectors', async (t) => {
  // ISO/IEC 9797-1:2011 Annex B.4 (algorithm 3, K = 0123456789ABCDEF, K' = FEDCBA9876543210), as also quoted
  // in RustCrypto's retail-mac crate docs and the ANSI X9.19 example "Now is the time for all "
  const s1 = ascii('Now is the time for all ');
  const s2 = ascii('Now is the time for it');
  t.equal(hex(retailMac(ANSI_KEY, s1, { padding: 1 })), 'A1C72E74EA3FA9B6', 'string 1, padding 1 (the X9.19 example)');
  t.equal(hex(retailMac(ANSI_KEY, s1, { padding: 2 })), 'E9086230CA3BE796', 'string 1, padding 2');
  t.equal(hex(retailMac(ANSI_KEY, s2, { padding: 1 })), '2E2B1428CC78254F', 'string 2, padding 1');
  t.equal(hex(retailMac(ANSI_KEY, s2, { padding: 2 })), '5A692CE64F404145', 'string 2, padding 2');
  // Bouncy Castle ISO9797Alg3MacTest (bc-java core/src/test/.../crypto/test/ISO9797Alg3MacTest.java)
  t.equal(hex(retailMac(h('7CA110454A1A6E570131D9619DC1376E'), ascii('Hello World !!!!'))), 'F09B856213BAB83B', 'Bouncy Castle');
  // ICAO Doc 9303 Part 11, Appendix D.3 (BAC mutual authentication: MAC over E_IFD and E_IC, padding method 2)
  const kmac = h('7962D9ECE03D1ACD4C76089DCE131543');
  const eifd = h('72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2');
  const eic = h('46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F');
  t.equal(hex(retailMac(kmac, eifd, { padding: 2 })), '5F1448EEA8AD90A7', 'ICAO 9303 M_IFD');
  t.equal(hex(retailMac(kmac, eic, { padding: 2 })), '2F2D235D074D7449', 'ICAO 9303 M_IC');
  // with K' = K algorithm 3 is algorithm 1 (plain CBC-MAC): FIPS 113 / ANSI X9.9 example, key 0123456789ABCDEF,
  // "7654321 Now is the time for ", 32-bit MAC F1D30F68 (as in Bouncy Castle's MacTest, from FIPS 113)
  const fips = retailMac(h('0123456789ABCDEF0123456789ABCDEF'), ascii('7654321 Now is the time for '), { length: 4 });
  t.equal(hex(fips), 'F1D30F68', 'FIPS 113, truncated to 4 bytes');
  t.equal(hex(retailMac(ANSI_KEY, s1, { length: 4 })), 'A1C72E74', 'length 4 is the leftmost 4 bytes');
  t.throws(() => retailMac(Buffer.alloc(24), s1), RangeError, 'algorithm 3 takes K || K′ (16 bytes)');
});

t.test('retail MAC agrees with openssl on seeded random keys and data', async (t) => {
  const rnd = seededRandom(testSeed(t, 919));
  for (let i = 0; i < 4; i++) {
    const key = randomBytes(rnd, 16);
    const data = randomBytes(rnd, Math.floor(rnd() * 40));
    const padding = i % 2 === 0 ? 1 : 2;
    t.equal(hex(retailMac(key, data, { padding })), hex(await opensslRetailMac(key, padIso9797(data, padding))), `${data.length} bytes, padding ${padding}`);
  }
});

t.test('retailMacVerify: true for the MAC, false for any flipped bit, another length or another key', async (t) => {
  const rnd = seededRandom(testSeed(t, 64));
  const key = randomBytes(rnd, 16);
  const data = randomBytes(rnd, 37);
  const mac = retailMac(key, data);
  t.ok(retailMacVerify(key, data, mac));
  const verified: string[] = [];
  for (let bit = 0; bit < mac.length * 8; bit++) {
    const m = Buffer.from(mac);
    m[bit >> 3]! ^= 1 << (bit & 7);
    if (retailMacVerify(key, data, m)) verified.push(`MAC bit ${bit}`);
  }
  for (let bit = 0; bit < data.length * 8; bit++) {
    const d = Buffer.from(data);
    d[bit >> 3]! ^= 1 << (bit & 7);
    if (retailMacVerify(key, d, mac)) verified.push(`data bit ${bit}`);
  }
  t.same(verified, [], `none of the ${mac.length * 8} MAC bits and ${data.length * 8} data bits flipped verifies`);
  t.notOk(retailMacVerify(key, data, mac.subarray(0, 4)), 'a 4-byte prefix is not an 8-byte MAC');
  t.ok(retailMacVerify(key, data, mac.subarray(0, 4), { length: 4 }), 'but is the 4-byte MAC');
  const other = crypto.createHash('sha256').update(key).digest().subarray(0, 16);
  t.notOk(retailMacVerify(other, data, mac), 'another key');
});

t.test('padding 1 cannot tell trailing zeros apart; padding 2 can (why both are offered)', async (t) => {
  const a = ascii('0100 amount');
  const b = Buffer.concat([a, Buffer.alloc(1)]);
  t.equal(hex(retailMac(ANSI_KEY, a, { padding: 1 })), hex(retailMac(ANSI_KEY, b, { padding: 1 })));
  t.not(hex(retailMac(ANSI_KEY, a, { padding: 2 })), hex(retailMac(ANSI_KEY, b, { padding: 2 })));
});

t.test('macInput: the packed message without its trailing MAC field', async (t) => {
  const packed = Buffer.concat([ascii('0800'), h('8000000000000001'), Buffer.alloc(8, 0xaa)]);
  t.equal(hex(macInput(packed, 8)), hex(packed.subarray(0, 12)));
  t.throws(() => macInput(packed, 0), RangeError);
  t.throws(() => macInput(packed, 21), RangeError);
});
