/**
 * Nothing the soft HSM writes holds a clear key or PIN (docs/security.md, "Key store"): after every kind of
 * operation, successful and refused, the key file, the captured pino log (the switch's own logger, src/log.ts),
 * the messages of the errors it threw and its inspected object are scanned for every secret in every encoding a
 * slip would produce (hex either case, base64, base64url, the raw bytes, each 8-byte half of a key).
 */
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { createLogger } from '../../src/log.js';
import { forceOddParity, tdesEncryptEcb } from '../../src/security/des.js';
import { parseMasterKey } from '../../src/security/master-key.js';
import { buildPinBlock0, pinField0 } from '../../src/security/pin-block.js';
import { SoftHsm } from '../../src/security/soft-hsm.js';
import { seededRandom, testSeed } from '../helpers/seed.js';

function oddKey(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  forceOddParity(b);
  return b;
}

/** Every way a secret could show up in text or bytes. */
function forms(secret: Buffer): string[] {
  const out = [secret.toString('hex'), secret.toString('hex').toUpperCase(), secret.toString('base64'), secret.toString('base64url')];
  if (secret.length >= 16) for (let i = 0; i + 8 <= secret.length; i += 8) out.push(...forms(secret.subarray(i, i + 8)));
  return out;
}

t.test('no clear key, component, master key or PIN in the key file, the log, errors or the object', async (t) => {
  const rnd = seededRandom(testSeed(t, 3505));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sw-leak-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'keys.json');
  const masterBytes = crypto.createHash('sha256').update(`leak ${rnd()}`).digest();
  const masterKey = parseMasterKey(masterBytes.toString('base64'));
  const lines: string[] = [];
  const log = createLogger({ name: 'security', level: 'trace', destination: { write: (s: string) => void lines.push(s) } });
  const errors: string[] = [];
  const refused = (p: Promise<unknown>) =>
    p.then(
      () => t.fail('expected a refusal'),
      (e: Error) => errors.push(e.message, JSON.stringify(e), String(e.stack)),
    );

  const zmk = oddKey(rnd, 16);
  const psp = oddKey(rnd, 16);
  const components = [oddKey(rnd, 16), oddKey(rnd, 16), oddKey(rnd, 16)];
  const acq = components.reduce((a, c) => Buffer.from(a.map((b, i) => b ^ c[i]!)));
  forceOddParity(acq);
  const tak = oddKey(rnd, 16);
  const tak2 = oddKey(rnd, 16);
  const pin = '739105862447';
  const pan = '5413339000001513';
  const clearBlock = buildPinBlock0(pin, pan);
  const clearField = pinField0(clearBlock, pan);

  const hsm = await SoftHsm.create(file, { masterKey, log });
  await hsm.loadKey('zmk:acq-1', zmk);
  await hsm.loadKey('zpk:psp-a', psp);
  await hsm.loadComponents('zpk:acq-1', components);
  const cv = (k: Buffer) => tdesEncryptEcb(k, Buffer.alloc(8)).toString('hex').slice(0, 6);
  await hsm.importWorkingKey('tak:acq-1', tdesEncryptEcb(zmk, tak), 'zmk:acq-1', cv(tak));
  await refused(hsm.importWorkingKey('tak:acq-1', tdesEncryptEcb(zmk, tak2), 'zmk:acq-1', cv(tak)));
  const damaged = tdesEncryptEcb(zmk, tak2);
  damaged[2]! ^= 4;
  await refused(hsm.importWorkingKey('tak:acq-1', damaged, 'zmk:acq-1', cv(tak2)));
  await refused(hsm.importWorkingKey(tak2.toString('hex'), tdesEncryptEcb(zmk, tak2), 'zmk:acq-1', cv(tak2)));
  await refused(hsm.loadKey('zpk:x', tak2, '000000'));
  const out = await hsm.translatePin(tdesEncryptEcb(psp, clearBlock), 'zpk:psp-a', 'zpk:acq-1', pan);
  await refused(hsm.translatePin(tdesEncryptEcb(zmk, clearBlock), 'zpk:psp-a', 'zpk:acq-1', pan));
  await refused(hsm.translatePin(out, 'zpk:psp-a', 'zpk:acq-1', pan));
  const mac = await hsm.generateMac('tak:acq-1', Buffer.from('0200 message'));
  t.ok(await hsm.verifyMac('tak:acq-1', Buffer.from('0200 message'), mac), 'the MAC verifies');
  const reopened = await SoftHsm.open(file, { masterKey, log });
  t.same(await reopened.keyNames(), ['tak:acq-1', 'zmk:acq-1', 'zpk:acq-1', 'zpk:psp-a'], 'the work was done');
  const json = JSON.parse(await fs.readFile(file, 'utf8'));
  json.keys['zpk:psp-a'].data = Buffer.from(json.keys['zpk:psp-a'].data, 'base64').fill(0).toString('base64');
  await fs.writeFile(path.join(dir, 'bad.json'), JSON.stringify(json), { mode: 0o600 });
  await refused(SoftHsm.open(path.join(dir, 'bad.json'), { masterKey, log }));
  await refused(SoftHsm.open(file, { masterKey: parseMasterKey(crypto.randomBytes(32).toString('hex')), log }));

  const fileBytes = await fs.readFile(file);
  const sources: [string, string][] = [
    ['key file', fileBytes.toString('latin1')],
    ['log', lines.join('')],
    ['errors', errors.join('\n')],
    ['the store object', inspect(hsm, { depth: Infinity, showHidden: true }) + inspect(reopened, { depth: Infinity, showHidden: true })],
    ['key infos', JSON.stringify(reopened.list())],
  ];
  const secrets: [string, Buffer][] = [
    ['ZMK', zmk],
    ['PSP PIN key', psp],
    ['acquirer PIN key', acq],
    ...components.map((c, i) => [`component ${i + 1}`, c] as [string, Buffer]),
    ['imported MAC key', tak],
    ['refused MAC key', tak2],
    ['master key', masterBytes],
    ['clear PIN block', clearBlock],
    ['clear PIN field', clearField],
  ];
  t.ok(lines.length >= 6, `${lines.length} log lines captured`);
  t.match(lines.join(''), /"event":"security.key.stored".*"kcv":"[0-9A-F]{6}"/, 'the log has the check values');
  t.match(lines.join(''), /"event":"security.key.refused".*"code":"SW_ERR_SEC_KCV_MISMATCH"/, 'and the refusals with their codes');
  t.ok(errors.length >= 18, `${errors.length / 3} errors captured`);
  const found: string[] = [];
  for (const [where, text] of sources) {
    for (const [what, secret] of secrets) for (const f of forms(secret)) if (text.includes(f)) found.push(`${what} (${f}) in ${where}`);
    if (text.includes(pin)) found.push(`the PIN in ${where}`);
    if (text.includes(pan)) found.push(`the PAN in ${where}`);
  }
  for (const [what, secret] of secrets) if (fileBytes.includes(secret)) found.push(`${what} as raw bytes in the key file`);
  t.same(found, [], 'no secret found');
});
