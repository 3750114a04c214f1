/**
 * The link MAC end to end (docs/security.md, "MAC", "Key exchange"): a switch whose acquirers all have `mac` and
 * `key_exchange`, its keys in a key file made here by SoftHsm under a random master key, each acquirer a simulator
 * holding the same TAK. An answer with a bad MAC is no answer: the PSP gets the timeout answer (91) and the reversal
 * is queued and delivered once MACs are good again. A key change asked by the switch moves both sides to a new key;
 * one refused for its check value leaves the old key in use. Real sockets and Postgres.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadConfig } from '../../src/switch/config.js';
import { startSwitch } from '../../src/app/runtime.js';
import { SoftHsm } from '../../src/security/soft-hsm.js';
import { parseMasterKey } from '../../src/security/master-key.js';
import { forceOddParity } from '../../src/security/des.js';
import { framerByName } from '../../src/wire/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { startAcquirerSimulator, type AcquirerSimulator } from '../../simulators/acquirer/index.js';
import { testDb } from '../helpers/db.js';
import { testSeed, seededRandom } from '../helpers/seed.js';
import { ROOT, testOverrides, auth, rc, txnOf, eventually } from '../helpers/switch.js';

const seed = testSeed(t, 0x17ac);
const random = seededRandom(seed);
const desKey = (n: number): Buffer => {
  const k = Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  forceOddParity(k);
  return k;
};
const hex = (b: Buffer): string => b.toString('hex');

t.test('MAC on every acquirer: bad MAC → 91 and a reversal; key change', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'acq-mac-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const master = Buffer.from(Array.from({ length: 32 }, () => Math.floor(random() * 256)));
  const keys = await SoftHsm.create(path.join(dir, 'keys.json'), { masterKey: parseMasterKey(hex(master)) });
  t.teardown(() => keys.close());
  const secrets: Buffer[] = [master];

  // rules/ with every acquirer on a MACing simulator of its own
  const rulesDir = path.join(dir, 'rules');
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const file = path.join(rulesDir, 'acquirers.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as {
    acquirers: Array<{ id: string; link: { port: number; dialect: string; framer: string } } & Record<string, unknown>>;
  };
  const sims = new Map<string, AcquirerSimulator>();
  for (const a of doc.acquirers) {
    const tak = desKey(16);
    const zmk = desKey(16);
    secrets.push(tak, zmk);
    await keys.loadKey(`tak:${a.id}`, tak);
    await keys.loadKey(`zmk:${a.id}`, zmk);
    const sim = await startAcquirerSimulator({
      dialect: a.link.dialect,
      framer: framerByName(a.link.framer as 'binary2'),
      control: false,
      seed,
      behaviour: { defaultResponseCode: '00' },
      mac: { tak: hex(tak), zmk: hex(zmk) },
    });
    t.teardown(() => sim.close());
    sims.set(a.id, sim);
    a.link.port = sim.port;
    a.mac = {};
    a.key_exchange = {};
  }
  writeFileSync(file, stringifyYaml(doc));

  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(c: Buffer, _e, cb) {
        lines.push(c.toString());
        cb();
      },
    }),
  );
  const db = await testDb(t, { max: 4 });
  const cfg = loadConfig({ env: {}, overrides: testOverrides(db.url, { rulesDir, acquirerTimeoutMs: 600 }) });

  await t.rejects(startSwitch(cfg, { log: pino({ level: 'silent' }) }), { code: 'SW_ERR_SEC_NO_KEY_STORE' }, 'mac without a key store: a typed start error');

  const h = await startSwitch(cfg, { log, keys });
  t.teardown(() => h.stop());
  const client = await PspClient.connect({ port: h.pspPort, timeoutMs: 30_000 });
  t.teardown(() => client.close());

  const ok = auth();
  t.equal(rc(await client.send(ok)), '00', 'approved through a MACed link');
  const okRow = (await txnOf(db.pool, ok))!;
  const okSim = sims.get(okRow.acquirer!)!;
  t.equal(okSim.stats.macInvalid, 0, 'the acquirer verified our MACs');
  t.ok(okSim.stats.macVerified >= 2, 'sign-on and the request');

  // every acquirer answers with a bad MAC: the answer is not taken
  for (const s of sims.values()) s.setMacFaults({ badMac: true });
  const req = auth({ amount: 4_321 });
  const res = await client.send(req);
  t.equal(rc(res), '91', 'the PSP gets the timeout answer');
  const row = (await txnOf(db.pool, req))!;
  t.equal(row.state, 'timed_out');
  const sim = sims.get(row.acquirer!)!;
  t.equal(sim.journal.count({ direction: 'out', mti: '0110', rrn: row.acq_rrn! }), 1, 'the acquirer did answer (with a bad MAC)');
  t.ok(h.acquirers.get(row.acquirer!).link.stats.macInvalid >= 1, 'counted on the link');
  t.ok(
    lines.some((l) => l.includes('SW_ERR_SEC_MAC_INVALID')),
    'logged with its code',
  );
  const { rows: queued } = await db.pool.query('select txn_id from switch_saf where txn_id = $1', [row.id]);
  t.equal(queued.length, 1, 'the reversal is queued');
  await eventually(() => sim.journal.count({ direction: 'in', mti: ['0420', '0421'], rrn: row.acq_rrn! }) >= 1 || undefined, 'the reversal went out');
  for (const s of sims.values()) s.setMacFaults({ badMac: false });
  await eventually(async () => {
    const { rows } = await db.pool.query<{ done_at: Date | null }>('select done_at from switch_saf where txn_id = $1', [row.id]);
    return rows[0]?.done_at ?? undefined;
  }, 'the reversal answered with a good MAC closes the SAF entry');

  // key change asked by the switch, on every acquirer: both sides move to the new key
  const newKcv = new Map<string, string>();
  for (const [id, acq] of sims) {
    const before = await keys.kcv(`tak:${id}`);
    const info = await h.acquirers.requestKeyChange(id);
    t.not(info.kcv, before, `${id}: a new key`);
    t.equal(info.kcv, acq.macKcv(), `${id}: the one the acquirer now uses`);
    newKcv.set(id, info.kcv);
  }
  const next = auth({ amount: 1_111 });
  t.equal(rc(await client.send(next)), '00', 'approved under the new key');

  // a key sent with a wrong check value is refused; the old key stays in use on both sides
  for (const [id, acq] of sims) {
    acq.setMacFaults({ wrongKcv: true });
    await t.rejects(h.acquirers.requestKeyChange(id), { code: 'SW_ERR_SEC_KCV_MISMATCH' }, `${id}: refused`);
    acq.setMacFaults({ wrongKcv: false });
    t.equal(await keys.kcv(`tak:${id}`), newKcv.get(id), `${id}: the key store kept the key`);
    t.equal(acq.macKcv(), newKcv.get(id), `${id}: so did the acquirer`);
  }
  const after = auth({ amount: 2_222 });
  t.equal(rc(await client.send(after)), '00', 'still approved under it');
  for (const acq of sims.values()) t.equal(acq.stats.macInvalid, 0, 'no MAC of ours failed at any acquirer');

  const text = lines.join('');
  t.ok(lines.length > 10);
  for (const k of secrets) for (const form of [hex(k), hex(k).toUpperCase(), k.toString('base64')]) t.notOk(text.includes(form), 'no key in the log');
});
