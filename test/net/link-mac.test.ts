/**
 * The MAC on an acquirer link and the key exchange (docs/security.md, "MAC", "Key exchange"): the link with the
 * switch's guard (src/switch/acquirer-mac.ts) against the acquirer simulator's own MAC (simulators/acquirer/mac.ts),
 * keys in a key file made here by SoftHsm under a random master key, the wire read through a tap and its MACs
 * recomputed with openssl. No key, in any encoding, in any log line.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { AcquirerLink } from '../../src/net/index.js';
import { IsoMessage } from '../../src/iso8583/message.js';
import { loadWireCodec } from '../../src/iso8583/index.js';
import { createFramer } from '../../src/wire/framer.js';
import { SoftHsm } from '../../src/security/soft-hsm.js';
import { parseMasterKey } from '../../src/security/master-key.js';
import { forceOddParity, tdesDecryptEcb } from '../../src/security/des.js';
import { padIso9797, retailMacVerify } from '../../src/security/mac.js';
import { acquirerSecurity } from '../../src/switch/acquirer-mac.js';
import type { AcquirerDef, Dialect } from '../../src/routing/types.js';
import { startAcquirerSimulator, type AcquirerSimulator } from '../../simulators/acquirer/index.js';
import { testSeed, seededRandom } from '../helpers/seed.js';
import { eventually } from '../helpers/wait.js';
import { wireTap } from '../helpers/wiretap.js';
import { opensslRetailMac } from '../security/openssl.js';

const seed = testSeed(t, 0x5eed17);
const random = seededRandom(seed);
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
const desKey = (n: number): Buffer => {
  const k = bytes(n);
  forceOddParity(k);
  return k;
};
const hex = (b: Buffer): string => b.toString('hex');

/** Every log line of the test (switch side). */
const lines: string[] = [];
const log = pino(
  { level: 'debug' },
  new Writable({
    write(c: Buffer, _e, cb) {
      lines.push(c.toString());
      cb();
    },
  }),
);
const secrets: Buffer[] = [];

interface Rig {
  link: AcquirerLink;
  sim: AcquirerSimulator;
  keys: SoftHsm;
  tak: Buffer;
  tap?: Awaited<ReturnType<typeof wireTap>>;
}

async function rig(
  tt: Test,
  dialect: Dialect,
  o: { simTak?: Buffer; tap?: boolean; length?: 4 | 8; padding?: 1 | 2; field?: 64 | 128 | 'last' } = {},
): Promise<Rig & { zmk: Buffer }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'link-mac-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const master = bytes(32);
  const keys = await SoftHsm.create(path.join(dir, 'keys.json'), { masterKey: parseMasterKey(hex(master)) });
  tt.teardown(() => keys.close());
  const tak = desKey(16);
  const zmk = desKey(16);
  secrets.push(master, tak, zmk);
  await keys.loadKey('tak:acq-m', tak);
  await keys.loadKey('zmk:acq-m', zmk);
  const codec = loadWireCodec(dialect);
  const mac = { ...(o.length ? { length: o.length } : {}), ...(o.padding ? { padding: o.padding } : {}), ...(o.field ? { field: o.field } : {}) };
  const sim = await startAcquirerSimulator({
    codec,
    control: false,
    seed,
    behaviour: { defaultResponseCode: '00' },
    mac: { tak: hex(o.simTak ?? tak), zmk: hex(zmk), ...mac },
  });
  tt.teardown(() => sim.close());
  const tap = o.tap ? await wireTap(sim.host, sim.port) : undefined;
  if (tap) tt.teardown(() => tap.close());
  const def: AcquirerDef = {
    id: 'acq-m',
    link: { dialect, framer: 'binary2', connections: 1, timeouts_ms: { connect: 1000, response: 300 } },
    mac,
    key_exchange: {},
  };
  const security = await acquirerSecurity(def, codec, keys, log);
  const link = new AcquirerLink({
    name: 'acq-m',
    host: '127.0.0.1',
    port: tap ? tap.port : sim.port,
    codec,
    framer: createFramer(),
    connections: 1,
    defaultTimeoutMs: 300,
    signOnTimeoutMs: 1000,
    reconnect: { initialMs: 20, maxMs: 100 },
    logger: log,
    ...security,
  });
  tt.teardown(() => link.close());
  link.start();
  return { link, sim, keys, tak, zmk, ...(tap ? { tap } : {}) };
}

let stan = 100;
const auth = (): IsoMessage =>
  new IsoMessage('0100', {
    2: '4111111111111111',
    3: '000000',
    4: '000000001000',
    7: '0101120000',
    11: String(++stan).padStart(6, '0'),
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    49: '978',
  });

for (const [dialect, opts] of [
  ['iso87-binary', {}],
  ['iso87-ascii', { length: 4 as const, padding: 2 as const }],
  ['iso93-ascii', { field: 128 as const }],
] as const) {
  t.test(`${dialect} ${JSON.stringify(opts)}: every message MACed and checked both ways`, async (t) => {
    const { link, sim } = await rig(t, dialect, opts);
    // the sign-on 0800/0810 already went through both checks
    await link.waitReady(1, 5000);
    for (let i = 0; i < 5; i++) t.equal((await link.request(auth())).getString(39), '00', `answer ${i} matched`);
    t.equal(sim.stats.macInvalid, 0, 'the simulator verified every MAC of ours');
    t.ok(sim.stats.macVerified >= 6, `the simulator verified ${sim.stats.macVerified} MACs (sign-on and 5 requests)`);
    t.equal(link.stats.macInvalid, 0, 'we verified every MAC of its');
    t.equal(link.stats.answered, 5);
  });
}

t.test('the MACs on the wire are ISO 9797-1 algorithm 3 as openssl computes it, over everything before DE64/DE128', async (t) => {
  const { link, sim, tak, tap } = await rig(t, 'iso87-binary', { tap: true });
  await link.waitReady(1, 5000);
  await link.request(auth());
  const frames = [...tap!.sent(), ...tap!.received()];
  t.ok(frames.length >= 4, `${frames.length} frames both ways`);
  for (const f of frames) {
    const data = f.subarray(0, f.length - 8);
    const oracle = await opensslRetailMac(tak, padIso9797(data, 1));
    t.equal(hex(f.subarray(f.length - 8)), hex(oracle), `${f.subarray(0, 2).toString('hex')}… MAC as openssl's`);
  }
  t.equal(sim.stats.macInvalid, 0);
});

t.test('a wrong MAC of ours: the simulator answers nothing (the check can fail)', async (t) => {
  const { link, sim } = await rig(t, 'iso87-binary', { simTak: desKey(16) });
  await eventually(() => sim.stats.macInvalid >= 1 || undefined, 'the simulator refused our sign-on', 5000);
  t.equal(link.readyCount, 0, 'no connection signs on');
  t.equal(sim.stats.macVerified, 0);
});

t.test('an answer with a bad MAC is no answer: not matched, counted, logged, the request times out', async (t) => {
  const { link, sim } = await rig(t, 'iso87-binary');
  await link.waitReady(1, 5000);
  const events: Array<{ link: string; connectionId: string; code: string; mti: string }> = [];
  link.on('macInvalid', (e) => events.push(e));
  let unmatched = 0;
  link.on('unmatched', () => unmatched++);
  sim.setMacFaults({ badMac: true });
  const before = lines.length;
  await t.rejects(link.request(auth()), { code: 'SW_ERR_LINK_TIMEOUT' }, 'the request takes the timeout path');
  t.same(events, [{ link: 'acq-m', connectionId: events[0]?.connectionId, mti: '0110', code: 'SW_ERR_SEC_MAC_INVALID' }]);
  t.equal(link.stats.macInvalid, 1);
  t.equal(link.stats.answered, 0, 'never matched');
  t.equal(unmatched, 0, 'not handed on as unmatched either');
  t.match(lines.slice(before).join(''), /SW_ERR_SEC_MAC_INVALID/, 'logged with its code');
  sim.setMacFaults({ badMac: false });
  t.equal((await link.request(auth())).getString(39), '00', 'good MACs are matched again');
});

t.test('key exchange 0800 162: imported, answered 00, later messages verify under the new key only', async (t) => {
  const { link, sim, keys, tak, zmk, tap } = await rig(t, 'iso87-binary', { tap: true });
  await link.waitReady(1, 5000);
  await link.request(auth());
  const oldKcv = await keys.kcv('tak:acq-m');
  const r = await sim.startKeyExchange();
  t.same({ rc: r.responseCode, switched: r.switched }, { rc: '00', switched: true }, 'the 0810 says 00, MACed under the new key');
  t.equal(await keys.kcv('tak:acq-m'), r.kcv, 'the key store holds the new key');
  t.not(r.kcv, oldKcv);
  t.equal(sim.macKcv(), r.kcv);
  // the new key, as it crossed the wire under the ZMK: neither form may be logged (checked at the end)
  const codec = loadWireCodec('iso87-binary');
  const kx = tap!
    .received()
    .map((f) => codec.unpack(f))
    .find((m) => m.mti === '0800' && m.getString(70) === '162')!;
  const field = Buffer.from(kx.getString(48)!, 'hex');
  const newKey = tdesDecryptEcb(zmk, field.subarray(0, 16));
  secrets.push(newKey, Buffer.from(field.subarray(0, 16)));
  t.equal(hex(newKey).length, 32);
  const nSent = tap!.sent().length;
  const nReceived = tap!.received().length;
  for (let i = 0; i < 3; i++) t.equal((await link.request(auth())).getString(39), '00');
  t.equal(sim.stats.macInvalid, 0);
  t.equal(link.stats.macInvalid, 0);
  const later = [...tap!.sent().slice(nSent), ...tap!.received().slice(nReceived)];
  t.equal(later.length, 6);
  for (const f of later) {
    const data = f.subarray(0, f.length - 8);
    const mac = f.subarray(f.length - 8);
    t.notOk(retailMacVerify(tak, data, mac), 'the old key does not verify it');
  }
  t.ok(
    lines.some((l) => l.includes('working key imported') && l.includes(r.kcv)),
    'the import is logged with its check value',
  );
});

t.test('key exchange with a wrong check value: 0810 30, the old key kept and still used', async (t) => {
  const { link, sim, keys, tak, tap } = await rig(t, 'iso87-binary', { tap: true });
  await link.waitReady(1, 5000);
  const oldKcv = await keys.kcv('tak:acq-m');
  const r = await sim.startKeyExchange({ wrongKcv: true });
  t.same({ rc: r.responseCode, switched: r.switched }, { rc: '30', switched: false }, 'refused, MACed under the old key');
  t.equal(await keys.kcv('tak:acq-m'), oldKcv, 'the store still has the old key');
  t.ok(
    lines.some((l) => l.includes('SW_ERR_SEC_KCV_MISMATCH')),
    'the refusal is logged with its code',
  );
  const nSent = tap!.sent().length;
  t.equal((await link.request(auth())).getString(39), '00');
  const f = tap!.sent()[nSent]!;
  t.ok(retailMacVerify(tak, f.subarray(0, f.length - 8), f.subarray(f.length - 8)), 'the next request is MACed under the old key');
  t.equal(sim.stats.macInvalid, 0);
});

t.test('key change asked by the switch (0800 161): the 0810 carries the key, imported', async (t) => {
  const { link, sim, keys } = await rig(t, 'iso87-binary');
  await link.waitReady(1, 5000);
  const r = await link.networkManagement('161');
  t.equal(r.getString(39), '00');
  const { importFromKeyField, keyExchangeSettings } = await import('../../src/switch/acquirer-mac.js');
  const info = await importFromKeyField(keys, keyExchangeSettings({ id: 'acq-m', key_exchange: {} } as AcquirerDef)!, r);
  t.equal(info.kcv, sim.macKcv(), 'the same key on both sides');
  t.equal((await link.request(auth())).getString(39), '00', 'and it MACs the next request');
  t.equal(sim.stats.macInvalid, 0);
});

t.test('no key in any log line', async (t) => {
  t.ok(lines.length > 20, `${lines.length} log lines`);
  const text = lines.join('');
  for (const k of secrets) {
    for (const form of [hex(k), hex(k).toUpperCase(), k.toString('base64')]) t.notOk(text.includes(form), 'a key is not in the log');
  }
});
