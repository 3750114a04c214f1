/**
 * The soft HSM (src/security/soft-hsm.ts) through the KeyStore interface: master key, key file (mode, tampering,
 * wrong master key), key rules (length, parity, usage, weak keys), working key import with its check value, PIN
 * translation against the openssl oracle and as a seeded round-trip property, MACs, and the wiping of every
 * clear buffer it decrypts.
 */
import t, { type Test } from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { isSwitchError } from '../../src/errors.js';
import { forceOddParity, tdesDecryptEcb, tdesEncryptEcb } from '../../src/security/des.js';
import { requireMac } from '../../src/security/key-store.js';
import { retailMac } from '../../src/security/mac.js';
import { masterKeyFromEnv, parseMasterKey } from '../../src/security/master-key.js';
import { buildPinBlock0, parsePinBlock0 } from '../../src/security/pin-block.js';
import { SoftHsm } from '../../src/security/soft-hsm.js';
import { propertyHolds, seededRandom, testSeed } from '../helpers/seed.js';
import { opensslTdesEcb } from './openssl.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
const ANSI_KEY = h('0123456789ABCDEF FEDCBA9876543210');
const PAN = '4000001234562';

/** A master key from a seed (tests only). */
const master = (seed: number) => parseMasterKey(crypto.createHash('sha256').update(`master ${seed}`).digest('hex'), 'test');

function oddKey(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  forceOddParity(b);
  return b;
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'resolved';
  } catch (e) {
    return isSwitchError(e) ? e.code : `not a SwitchError: ${String(e)}`;
  }
}

async function tmpDir(t: Test): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sw-keys-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('master key: 32 bytes as hex or base64, anything else refused with SW_ERR_SEC_MASTER_KEY', async (t) => {
  const raw = crypto.createHash('sha256').update('m').digest();
  t.equal(parseMasterKey(raw.toString('hex')).symmetricKeySize, 32, 'hex');
  t.equal(parseMasterKey(raw.toString('base64')).symmetricKeySize, 32, 'base64');
  t.equal(parseMasterKey(raw.toString('base64url')).symmetricKeySize, 32, 'base64url');
  t.equal(parseMasterKey(` ${raw.toString('hex')}\n`).symmetricKeySize, 32, 'surrounding white space');
  t.equal(masterKeyFromEnv({ SW_MASTER_KEY: raw.toString('base64') }).symmetricKeySize, 32, 'from SW_MASTER_KEY');
  for (const [what, text] of [
    ['missing', undefined],
    ['empty', ''],
    ['16 bytes of hex', raw.subarray(0, 16).toString('hex')],
    ['31 bytes of base64', raw.subarray(0, 31).toString('base64')],
    ['33 bytes of base64', Buffer.concat([raw, raw]).subarray(0, 33).toString('base64')],
    ['not hex nor base64', 'correct horse battery staple, 32 characters long!'],
    ['all zero', '00'.repeat(32)],
  ] as const) {
    t.equal(await codeOf(() => parseMasterKey(text)), 'SW_ERR_SEC_MASTER_KEY', what);
  }
  const e = (() => {
    try {
      masterKeyFromEnv({});
    } catch (err) {
      return err as Error;
    }
  })();
  t.match(e?.message, /SW_MASTER_KEY\) is unusable: it is not set; set it to 32 random bytes/, 'names the variable and the fix');
  t.equal(await codeOf(() => SoftHsm.inMemory({ masterKey: crypto.createSecretKey(Buffer.alloc(16, 1)) })), 'SW_ERR_SEC_MASTER_KEY', 'a 16-byte KeyObject');
});

t.test('key names, lengths, parity, weak keys and check values are enforced when a key is stored', async (t) => {
  const rnd = seededRandom(testSeed(t, 1));
  const hsm = SoftHsm.inMemory({ masterKey: master(1) });
  t.equal(await codeOf(hsm.loadKey('zpk', oddKey(rnd, 16))), 'SW_ERR_SEC_KEY_NAME', 'no owner');
  t.equal(await codeOf(hsm.loadKey('xyz:a', oddKey(rnd, 16))), 'SW_ERR_SEC_KEY_NAME', 'unknown type');
  t.equal(await codeOf(hsm.loadKey('ZPK:A', oddKey(rnd, 16))), 'SW_ERR_SEC_KEY_NAME', 'upper case');
  t.equal(await codeOf(hsm.loadKey('zpk:a', oddKey(rnd, 8))), 'SW_ERR_SEC_KEY_LENGTH', 'single-length PIN key');
  t.equal(await codeOf(hsm.loadKey('tak:a', oddKey(rnd, 24))), 'SW_ERR_SEC_KEY_LENGTH', 'triple-length MAC key');
  t.equal(await codeOf(hsm.loadKey('zmk:a', oddKey(rnd, 17))), 'SW_ERR_SEC_KEY_LENGTH', '17 bytes');
  const even = oddKey(rnd, 16);
  even[5]! ^= 1;
  t.equal(await codeOf(hsm.loadKey('zpk:a', even)), 'SW_ERR_SEC_KEY_PARITY', 'one byte of even parity');
  const k = oddKey(rnd, 8);
  t.equal(await codeOf(hsm.loadKey('zpk:a', Buffer.concat([k, k]))), 'SW_ERR_SEC_WEAK_KEY', 'K1 = K2');
  t.equal(await codeOf(hsm.loadKey('zpk:a', Buffer.concat([oddKey(rnd, 8), k, k]))), 'SW_ERR_SEC_WEAK_KEY', 'K2 = K3');
  t.equal(await codeOf(hsm.loadKey('zpk:a', ANSI_KEY, '08D7B5')), 'SW_ERR_SEC_KCV_MISMATCH', 'wrong expected check value');
  t.equal(await codeOf(hsm.loadKey('zpk:a', ANSI_KEY, '08D')), 'SW_ERR_SEC_BAD_INPUT', 'odd hex digits');
  t.equal(await codeOf(hsm.loadKey('zpk:a', ANSI_KEY, '08')), 'SW_ERR_SEC_BAD_INPUT', 'one byte is not a check value');
  t.same(await hsm.keyNames(), [], 'nothing was stored by any refusal');

  t.same(await hsm.loadKey('zpk:a', ANSI_KEY, '08D7B4'), { name: 'zpk:a', type: 'zpk', length: 16, kcv: '08D7B4' });
  t.same(await hsm.loadKey('zpk:b', ANSI_KEY, h('08D7B4FB629D0885')), { name: 'zpk:b', type: 'zpk', length: 16, kcv: '08D7B4' }, '8 bytes of check value');
  t.equal(await hsm.kcv('zpk:a'), '08D7B4');
  t.equal(await codeOf(hsm.kcv('zpk:none')), 'SW_ERR_SEC_KEY_NOT_FOUND');
  const lax = SoftHsm.inMemory({ masterKey: master(1), parity: 'ignore' });
  t.equal((await lax.loadKey('zpk:a', even)).length, 16, "parity: 'ignore' takes it");

  // components: the ID TECH key-loading example, three components whose XOR is the ANSI test key; the XOR's parity
  // is made odd, which DES ignores, so the check value is the ANSI key's
  const parts = [h('988A59D7273186B8C9C9922B6D40BA75'), h('8936E5269ADFABE7D4829B2EFB3BF5D9'), h('109FF9963445E0B0E397B39DE02F7DBC')];
  t.equal((await hsm.loadComponents('zmk:c', parts, '08D7B4')).kcv, '08D7B4', 'formed from components');
  t.equal(hex(parts[0]!), '988A59D7273186B8C9C9922B6D40BA75', "the caller's components are left as they were");
  t.equal(await codeOf(hsm.loadComponents('zmk:d', parts.slice(0, 1))), 'SW_ERR_SEC_BAD_INPUT', 'one component');
  t.equal(await codeOf(hsm.loadComponents('zmk:d', [parts[0]!, Buffer.alloc(8)])), 'SW_ERR_SEC_BAD_INPUT', 'components of different lengths');
  t.equal(await codeOf(hsm.loadComponents('zmk:d', parts, '000000')), 'SW_ERR_SEC_KCV_MISMATCH', 'a component mistyped');
});

t.test('keys are used only for their job (SW_ERR_SEC_KEY_USAGE), checked before any key is opened', async (t) => {
  const rnd = seededRandom(testSeed(t, 2));
  const hsm = SoftHsm.inMemory({ masterKey: master(2) });
  for (const n of ['zmk:a', 'zpk:a', 'zpk:b', 'tak:a', 'zak:a']) await hsm.loadKey(n, oddKey(rnd, 16));
  const block = Buffer.alloc(8);
  t.equal(await codeOf(hsm.translatePin(block, 'zmk:a', 'zpk:b', PAN)), 'SW_ERR_SEC_KEY_USAGE', 'a ZMK decrypting a PIN block');
  t.equal(await codeOf(hsm.translatePin(block, 'zpk:a', 'tak:a', PAN)), 'SW_ERR_SEC_KEY_USAGE', 'a PIN block under a MAC key');
  t.equal(await codeOf(hsm.generateMac('zpk:a', block)), 'SW_ERR_SEC_KEY_USAGE', 'a PIN key making a MAC');
  t.equal(await codeOf(hsm.verifyMac('zmk:a', block, block)), 'SW_ERR_SEC_KEY_USAGE', 'a ZMK checking a MAC');
  t.equal(await codeOf(hsm.importWorkingKey('zpk:n', Buffer.alloc(16), 'zpk:a', '000000')), 'SW_ERR_SEC_KEY_USAGE', 'a PIN key as the ZMK');
  t.equal(await codeOf(hsm.importWorkingKey('zmk:n', Buffer.alloc(16), 'zmk:a', '000000')), 'SW_ERR_SEC_KEY_USAGE', 'a ZMK imported as a working key');
  t.equal(await codeOf(hsm.translatePin(block, 'zpk:a', 'zpk:none', PAN)), 'SW_ERR_SEC_KEY_NOT_FOUND');
  t.equal(await codeOf(hsm.generateMac('tak:a', 'text' as unknown as Uint8Array)), 'SW_ERR_SEC_BAD_INPUT', 'data that is not bytes');
  t.equal(await codeOf(hsm.generateMac('tak:a', block, { length: 6 as 4 })), 'SW_ERR_SEC_BAD_INPUT', 'a 6-byte MAC');
  t.equal(await codeOf(hsm.generateMac('tak:a', block, { padding: 3 as 1 })), 'SW_ERR_SEC_BAD_INPUT', 'padding method 3');
  t.equal(await codeOf(hsm.translatePin(Buffer.alloc(9), 'zpk:a', 'zpk:b', PAN)), 'SW_ERR_SEC_BAD_INPUT', 'a 9-byte PIN block');
  t.equal(await codeOf(hsm.translatePin(block, 'zpk:a', 'zpk:b', '12')), 'SW_ERR_SEC_BAD_INPUT', 'a 2-digit PAN');
  await hsm.close();
  t.equal(await codeOf(hsm.generateMac('tak:a', block)), 'SW_ERR_SEC_CLOSED', 'closed');
  t.equal(await codeOf(hsm.keyNames()), 'SW_ERR_SEC_CLOSED');
});

t.test('importWorkingKey: decrypts under the ZMK, checks the check value, stores; a wrong check value stores nothing', async (t) => {
  const rnd = seededRandom(testSeed(t, 3));
  const dir = await tmpDir(t);
  const file = path.join(dir, 'keys.json');
  const hsm = await SoftHsm.create(file, { masterKey: master(3) });
  const zmk = oddKey(rnd, 16);
  await hsm.loadKey('zmk:acq-1', zmk);
  // the acquirer sends the ANSI test key as its MAC key, under the ZMK (encrypted by openssl, not by the code under test)
  const underZmk = await opensslTdesEcb(zmk, ANSI_KEY);
  t.same(await hsm.importWorkingKey('tak:acq-1', underZmk, 'zmk:acq-1', '08D7B4'), { name: 'tak:acq-1', type: 'tak', length: 16, kcv: '08D7B4' });
  // the imported key is the right one: the published X9.19 example MAC under it
  t.equal(hex(await hsm.generateMac('tak:acq-1', Buffer.from('Now is the time for all '))), 'A1C72E74EA3FA9B6', 'X9.19 example under the imported key');

  const before = await fs.readFile(file);
  const next = oddKey(rnd, 16);
  const nextUnderZmk = await opensslTdesEcb(zmk, next);
  t.equal(await codeOf(hsm.importWorkingKey('tak:acq-1', nextUnderZmk, 'zmk:acq-1', '08D7B4')), 'SW_ERR_SEC_KCV_MISMATCH', 'the old check value for a new key');
  const flipped = Buffer.from(nextUnderZmk);
  flipped[3]! ^= 0x10;
  t.equal(
    await codeOf(hsm.importWorkingKey('tak:acq-1', flipped, 'zmk:acq-1', hex(retailMac(next, Buffer.alloc(0))).slice(0, 6))),
    'SW_ERR_SEC_KEY_PARITY',
    'damaged on the way: parity',
  );
  t.equal(await codeOf(hsm.importWorkingKey('tak:acq-1', underZmk.subarray(0, 8), 'zmk:acq-1', '08D7B4')), 'SW_ERR_SEC_BAD_INPUT', 'half a key');
  t.equal(await codeOf(hsm.importWorkingKey('tak:acq-1', underZmk, 'zmk:acq-1', 'not hex')), 'SW_ERR_SEC_BAD_INPUT', 'a check value that is not hex');
  t.same(await fs.readFile(file), before, 'the key file is unchanged by the refusals');
  t.equal(hex(await hsm.generateMac('tak:acq-1', Buffer.from('Now is the time for all '))), 'A1C72E74EA3FA9B6', 'and the old key still MACs');

  // the right check value for the new key: replaced, in memory and in the file
  const cv = hex(await opensslTdesEcb(next, Buffer.alloc(8))).slice(0, 6);
  t.equal((await hsm.importWorkingKey('tak:acq-1', nextUnderZmk, 'zmk:acq-1', cv)).kcv, cv, 'replaced');
  const reopened = await SoftHsm.open(file, { masterKey: master(3) });
  t.equal(await reopened.kcv('tak:acq-1'), cv, 'persisted');
  t.same(await reopened.keyNames(), ['tak:acq-1', 'zmk:acq-1']);
});

t.test('concurrent imports are all written (one key file write at a time)', async (t) => {
  const rnd = seededRandom(testSeed(t, 4));
  const file = path.join(await tmpDir(t), 'keys.json');
  const hsm = await SoftHsm.create(file, { masterKey: master(4) });
  const zmk = oddKey(rnd, 16);
  await hsm.loadKey('zmk:z', zmk);
  const keys = Array.from({ length: 6 }, () => oddKey(rnd, 16));
  const wire = await Promise.all(keys.map((k) => opensslTdesEcb(zmk, k)));
  const cvs = await Promise.all(keys.map(async (k) => hex(await opensslTdesEcb(k, Buffer.alloc(8))).slice(0, 6)));
  await Promise.all(wire.map((w, i) => hsm.importWorkingKey(`zpk:p${i}`, w, 'zmk:z', cvs[i]!)));
  const reopened = await SoftHsm.open(file, { masterKey: master(4) });
  t.same(await Promise.all(keys.map((_k, i) => reopened.kcv(`zpk:p${i}`))), cvs, 'every imported key is in the file');
});

t.test('the key file: mode 0600, and refused when missing, open to others, tampered or under another master key', async (t) => {
  const rnd = seededRandom(testSeed(t, 5));
  const dir = await tmpDir(t);
  const file = path.join(dir, 'keys.json');
  const hsm = await SoftHsm.create(file, { masterKey: master(5) });
  await hsm.loadKey('zpk:a', oddKey(rnd, 16));
  await hsm.loadKey('zpk:b', oddKey(rnd, 24));
  t.equal((await fs.stat(file)).mode & 0o777, 0o600, 'mode 0600');
  t.same((await fs.readdir(dir)).sort(), ['keys.json'], 'no temporary file left');
  t.equal(await codeOf(SoftHsm.create(file, { masterKey: master(5) })), 'SW_ERR_SEC_KEY_FILE', 'create never replaces a file');
  t.same(await (await SoftHsm.open(file, { masterKey: master(5) })).keyNames(), ['zpk:a', 'zpk:b'], 'opens with its master key');

  const good = JSON.parse(await fs.readFile(file, 'utf8'));
  const variant = async (what: string, change: (j: any) => void, want: string, mode = 0o600) => {
    const j = structuredClone(good);
    change(j);
    const f = path.join(dir, `${what.replace(/\W+/g, '-')}.json`);
    await fs.writeFile(f, JSON.stringify(j), { mode });
    await fs.chmod(f, mode);
    t.equal(await codeOf(SoftHsm.open(f, { masterKey: master(5) })), want, what);
  };
  const flipB64 = (s: string) => {
    const b = Buffer.from(s, 'base64');
    b[0]! ^= 1;
    return b.toString('base64');
  };
  await variant('a flipped bit of the sealed key', (j) => (j.keys['zpk:a'].data = flipB64(j.keys['zpk:a'].data)), 'SW_ERR_SEC_KEY_TAMPERED');
  await variant('a flipped bit of the tag', (j) => (j.keys['zpk:a'].tag = flipB64(j.keys['zpk:a'].tag)), 'SW_ERR_SEC_KEY_TAMPERED');
  await variant('a flipped bit of the nonce', (j) => (j.keys['zpk:b'].nonce = flipB64(j.keys['zpk:b'].nonce)), 'SW_ERR_SEC_KEY_TAMPERED');
  await variant('an entry moved to another name', (j) => ((j.keys['zpk:c'] = j.keys['zpk:a']), delete j.keys['zpk:a']), 'SW_ERR_SEC_KEY_TAMPERED');
  await variant('an entry moved to another type', (j) => ((j.keys['zmk:a'] = j.keys['zpk:a']), delete j.keys['zpk:a']), 'SW_ERR_SEC_KEY_TAMPERED');
  await variant('a changed check value', (j) => (j.keys['zpk:a'].kcv = '000000'), 'SW_ERR_SEC_KEY_TAMPERED');
  await variant(
    'a tag cut to 4 bytes',
    (j) => (j.keys['zpk:a'].tag = Buffer.from(j.keys['zpk:a'].tag, 'base64').subarray(0, 4).toString('base64')),
    'SW_ERR_SEC_KEY_FILE',
  );
  await variant('a changed length', (j) => (j.keys['zpk:a'].length = 24), 'SW_ERR_SEC_KEY_FILE');
  await variant('an invalid entry name', (j) => (j.keys['nope'] = j.keys['zpk:a']), 'SW_ERR_SEC_KEY_FILE');
  await variant('another format', (j) => (j.format = 'other/1'), 'SW_ERR_SEC_KEY_FILE');
  await variant('no keys object', (j) => (j.keys = []), 'SW_ERR_SEC_KEY_FILE');
  await variant('a master check value edited to match another master key', (j) => (j.master = 'FFFFFF'), 'SW_ERR_SEC_KEY_FILE');
  await variant('readable by the group', () => undefined, 'SW_ERR_SEC_KEY_FILE', 0o640);
  await fs.writeFile(path.join(dir, 'text.json'), 'not json', { mode: 0o600 });
  t.equal(await codeOf(SoftHsm.open(path.join(dir, 'text.json'), { masterKey: master(5) })), 'SW_ERR_SEC_KEY_FILE', 'not JSON');
  t.equal(await codeOf(SoftHsm.open(path.join(dir, 'none.json'), { masterKey: master(5) })), 'SW_ERR_SEC_KEY_FILE', 'missing');
  t.equal(await codeOf(SoftHsm.open(dir, { masterKey: master(5) })), 'SW_ERR_SEC_KEY_FILE', 'a directory');

  // another master key: told apart from damage by the master key check value
  let err: Error | undefined;
  await SoftHsm.open(file, { masterKey: master(6) }).catch((e: Error) => (err = e));
  t.ok(isSwitchError(err, 'SW_ERR_SEC_KEY_FILE'), 'another master key');
  t.match(err?.message, /was written under another master key/);
  // another master key with the check value forged to match it: every entry still refuses to open
  const forged = structuredClone(good);
  forged.master = JSON.parse(
    await fs.readFile(
      await (async () => {
        const f = path.join(dir, 'other.json');
        await (await SoftHsm.create(f, { masterKey: master(6) })).close();
        return f;
      })(),
      'utf8',
    ),
  ).master;
  await fs.writeFile(path.join(dir, 'forged.json'), JSON.stringify(forged), { mode: 0o600 });
  t.equal(await codeOf(SoftHsm.open(path.join(dir, 'forged.json'), { masterKey: master(6) })), 'SW_ERR_SEC_KEY_TAMPERED', 'forged master check value');
});

t.test('translatePin: the openssl oracle decrypts the result to the same clear PIN block', async (t) => {
  const rnd = seededRandom(testSeed(t, 6));
  const hsm = SoftHsm.inMemory({ masterKey: master(6) });
  const psp = oddKey(rnd, 16);
  const acq = oddKey(rnd, 24);
  await hsm.loadKey('zpk:psp-a', psp);
  await hsm.loadKey('zpk:acq-1', acq);
  // EFTlab's example block (PAN 43219876543210987, PIN 1234), encrypted under the PSP's key by openssl
  const clear = h('0412AC89ABCDEF67');
  const de52 = await opensslTdesEcb(psp, clear);
  const copy = Buffer.from(de52);
  const out = await hsm.translatePin(de52, 'zpk:psp-a', 'zpk:acq-1', '43219876543210987');
  t.equal(hex(await opensslTdesEcb(acq, out, true)), '0412AC89ABCDEF67', 'the acquirer key decrypts it to the same clear block');
  t.not(hex(out), hex(de52), 'under another key it is another block');
  t.same(de52, copy, "the caller's block is left as it was");

  // every way a block can be wrong gives the same answer: no oracle on its nibbles
  const messages = new Set<string>();
  for (const bad of ['1412AC89ABCDEF67', '0212AC89ABCDEF67', '04A2AC89ABCDEF67', '0412AC89ABCDEF60']) {
    const e = await hsm.translatePin(await opensslTdesEcb(psp, h(bad)), 'zpk:psp-a', 'zpk:acq-1', '43219876543210987').then(
      () => null,
      (err: Error) => err,
    );
    t.ok(isSwitchError(e, 'SW_ERR_SEC_PIN_BLOCK'), `clear block ${bad.slice(0, 4)}…: refused`);
    messages.add(e?.message ?? '');
  }
  t.equal(messages.size, 1, 'with one message for all of them');
  t.equal(
    await codeOf(hsm.translatePin(await opensslTdesEcb(acq, clear), 'zpk:psp-a', 'zpk:acq-1', '43219876543210987')),
    'SW_ERR_SEC_PIN_BLOCK',
    'under the wrong key',
  );
  t.equal(await codeOf(hsm.translatePin(de52, 'zpk:psp-a', 'zpk:acq-1', '43219876543210977')), 'SW_ERR_SEC_PIN_BLOCK', 'for another PAN');
});

t.test('property: translate(translate(p, A, B), B, A) = p, and B decrypts it to the same PIN (seeded)', async (t) => {
  const seed = testSeed(t, 8583);
  const hsm = SoftHsm.inMemory({ masterKey: master(7) });
  const key = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
    const k = Buffer.from(b);
    forceOddParity(k);
    return k;
  });
  let n = 0;
  await propertyHolds(
    t,
    fc.asyncProperty(key, key, fc.stringMatching(/^[0-9]{4,12}$/), fc.stringMatching(/^[0-9]{12,19}$/), async (a, b, pin, pan) => {
      fc.pre(!a.subarray(0, 8).equals(a.subarray(8)) && !b.subarray(0, 8).equals(b.subarray(8)));
      const A = `zpk:a${n}`;
      const B = `zpk:b${n++}`;
      await hsm.loadKey(A, a);
      await hsm.loadKey(B, b);
      const underA = tdesEncryptEcb(a, buildPinBlock0(pin, pan));
      const underB = await hsm.translatePin(underA, A, B, pan);
      const back = await hsm.translatePin(underB, B, A, pan);
      const viaB = parsePinBlock0(tdesDecryptEcb(b, underB), pan).toString('latin1');
      return back.equals(underA) && viaB === pin;
    }),
    { seed, numRuns: 150 },
    'PIN translation round trip',
  );
});

t.test('MACs through the store: verify true, false on any one flipped bit; requireMac throws SW_ERR_SEC_MAC_INVALID', async (t) => {
  const hsm = SoftHsm.inMemory({ masterKey: master(9) });
  await hsm.loadKey('zak:acq-1', ANSI_KEY);
  const data = Buffer.from('Now is the time for all ');
  const mac = await hsm.generateMac('zak:acq-1', data);
  t.equal(hex(mac), 'A1C72E74EA3FA9B6', 'the X9.19 example');
  t.equal(hex(await hsm.generateMac('zak:acq-1', data, { padding: 2, length: 4 })), 'E9086230', 'padding 2, 4 bytes');
  t.ok(await hsm.verifyMac('zak:acq-1', data, mac));
  const seed = testSeed(t, 10);
  await propertyHolds(
    t,
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.boolean(), async (msg, at, inMac) => {
      const m = await hsm.generateMac('zak:acq-1', msg);
      const d = Buffer.from(msg);
      const mm = Buffer.from(m);
      if (inMac) mm[(at >> 3) % 8]! ^= 1 << (at & 7);
      else d[(at >> 3) % d.length]! ^= 1 << (at & 7);
      return (await hsm.verifyMac('zak:acq-1', msg, m)) && !(await hsm.verifyMac('zak:acq-1', d, mm));
    }),
    { seed, numRuns: 300 },
    'one flipped bit fails verification',
  );
  t.notOk(await hsm.verifyMac('zak:acq-1', data, mac.subarray(0, 7)), 'a 7-byte MAC');
  await t.resolves(requireMac(hsm, 'zak:acq-1', data, mac));
  const bad = Buffer.from(mac);
  bad[0]! ^= 0x80;
  t.equal(await codeOf(requireMac(hsm, 'zak:acq-1', data, bad)), 'SW_ERR_SEC_MAC_INVALID');
});

t.test('every clear buffer the soft HSM decrypts is zero once the operation is over', async (t) => {
  const rnd = seededRandom(testSeed(t, 11));
  const hsm = SoftHsm.inMemory({ masterKey: master(11) });
  const zmk = oddKey(rnd, 16);
  await hsm.loadKey('zmk:z', zmk);
  await hsm.loadKey('zpk:a', oddKey(rnd, 16));
  await hsm.loadKey('zpk:b', oddKey(rnd, 16));
  await hsm.loadKey('tak:m', oddKey(rnd, 16));
  const tak2 = oddKey(rnd, 16);
  const wire = await opensslTdesEcb(zmk, tak2);
  const cv = hex(await opensslTdesEcb(tak2, Buffer.alloc(8))).slice(0, 6);
  // a PIN block under zpk:a, made with a key the test knows (loaded as zpk:c)
  const c = oddKey(rnd, 16);
  await hsm.loadKey('zpk:c', c);
  const de52 = await opensslTdesEcb(c, buildPinBlock0('739105862447', PAN));

  // every output of every decipher the store creates, recorded (the real ciphers run; only their outputs are kept)
  const outputs: Buffer[] = [];
  const real = crypto.createDecipheriv;
  const patched = ((...args: Parameters<typeof real>) => {
    const d = (real as (...a: Parameters<typeof real>) => crypto.Decipher)(...args);
    const update = d.update.bind(d) as (data: Uint8Array) => Buffer;
    const final = d.final.bind(d) as () => Buffer;
    (d as unknown as { update: unknown }).update = (data: Uint8Array) => {
      const o = update(data);
      outputs.push(o);
      return o;
    };
    (d as unknown as { final: unknown }).final = () => {
      const o = final();
      outputs.push(o);
      return o;
    };
    return d;
  }) as typeof real;
  crypto.createDecipheriv = patched;
  try {
    await hsm.translatePin(de52, 'zpk:c', 'zpk:b', PAN);
    await hsm.generateMac('tak:m', Buffer.from('a message'));
    await hsm.verifyMac('tak:m', Buffer.from('a message'), Buffer.alloc(8));
    await hsm.importWorkingKey('tak:n', wire, 'zmk:z', cv);
    await hsm.importWorkingKey('tak:n', wire, 'zmk:z', '000000').catch(() => undefined);
    await hsm.translatePin(Buffer.alloc(8), 'zpk:a', 'zpk:b', PAN).catch(() => undefined);
  } finally {
    crypto.createDecipheriv = real;
  }
  const nonEmpty = outputs.filter((o) => o.length > 0);
  t.ok(nonEmpty.length >= 10, `${nonEmpty.length} decrypted buffers recorded (keys unsealed, PIN blocks, imported keys)`);
  t.same(
    nonEmpty.map((o, i) => (o.every((b) => b === 0) ? null : i)).filter((i) => i !== null),
    [],
    'all of them wiped',
  );
});
