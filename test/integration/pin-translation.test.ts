/**
 * PIN translation end to end (docs/security.md, "PIN translation"): a switch with a soft HSM key file made here
 * (random keys from a seed, a random master key in SW_MASTER_KEY), the built-in acquirer simulators checking
 * PINs under their own zone PIN keys (simulators/acquirer/pin.ts, format 0 written apart from src/security/), and
 * openssl as a third, independent TDES.
 *
 *  - PIN 1234 under zpk:psp-alpha: the acquirer gets another block, which decrypts under its zpk (openssl) to the
 *    format 0 block of 1234 for the card, and approves; the same for a financial 0200;
 *  - a wrong PIN: translated, and the acquirer answers 55;
 *  - a PSP without a PIN key (psp-beta, on a second listener), a block not under the PSP's key: responseCodes.pinError
 *    (96), recorded with its reason, no acquirer call;
 *  - no key store at all and DE52: the same decline;
 *  - then every row of every table of the test schema and every log line of the switch are scanned for each PIN
 *    block (the PSP's, the acquirer's, the clear one), each key and the master key, in hex (both cases) and base64.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { PspClient } from '../../simulators/psp/client.js';
import type { AcquirerSimulator } from '../../simulators/acquirer/index.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { forceOddParity, tdesEncryptEcb } from '../../src/security/des.js';
import { parseMasterKey } from '../../src/security/master-key.js';
import { buildPinBlock0 } from '../../src/security/pin-block.js';
import { SoftHsm } from '../../src/security/soft-hsm.js';
import { startTestSwitch } from '../admin/harness.js';
import { auth, rc, startTestSwitch as startPlain, testPan } from '../helpers/switch.js';
import { testDb } from '../helpers/db.js';
import { seededRandom, testSeed } from '../helpers/seed.js';

const ACQUIRERS = ['acq-a', 'acq-b', 'acq-c'];

/** Every secret of this file, to scan for at the end. */
const secrets = new Set<string>();
function secret(b: Buffer): Buffer {
  secrets.add(b.toString('hex').toUpperCase());
  secrets.add(b.toString('hex').toLowerCase());
  if (b.length >= 8) secrets.add(b.toString('base64'));
  return b;
}

const random = seededRandom(testSeed(t, 0x5eed_0052));
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
function tdesKey(): Buffer {
  const k = bytes(16);
  forceOddParity(k);
  return secret(k);
}

const masterHex = secret(bytes(32)).toString('hex');
process.env.SW_MASTER_KEY = masterHex; // as an operator sets it; runtime.ts reads it (src/security/master-key.ts)
const pspKey = tdesKey();
const acqKeys = new Map(ACQUIRERS.map((a) => [a, tdesKey()]));
const otherKey = tdesKey();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switch-pin-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const keyFile = path.join(dir, 'keys.json');

/** TDES ECB decryption by openssl, the oracle neither the switch nor the simulator shares code with. */
function opensslDecrypt(key: Buffer, block: Buffer): Buffer {
  const k = Buffer.concat([key, key.subarray(0, 8)]).toString('hex');
  return execFileSync('openssl', ['enc', '-des-ede3', '-d', '-K', k, '-nopad', '-nosalt'], { input: block });
}

/** The PSP's DE52 for `pin` and `pan` under `key`; the clear and the encrypted block join the secrets. */
function pspBlock(pin: string, pan: string, key = pspKey): Buffer {
  const clear = secret(buildPinBlock0(pin, pan));
  return secret(tdesEncryptEcb(key, clear));
}

/** Requests (0100, 0200) every simulator has received. */
function financialIn(sims: Map<string, AcquirerSimulator>): number {
  return [...sims.values()].reduce((n, s) => n + s.journal.find({ direction: 'in', mti: ['0100', '0200'] }).length, 0);
}

async function rowOf(pool: pg.Pool, req: IsoMessage, psp: string) {
  const { rows } = await pool.query<{ txn_id: string; state: string | null; response_code: string | null; reason: string | null; acquirer: string | null }>(
    'select txn_id, state, response_code, reason, acquirer from switch_intent where psp = $1 and psp_stan = $2 and psp_terminal = $3 and mti = $4 and attempt = 1',
    [psp, req.getString(11), req.getString(41), req.mti],
  );
  return rows[0];
}

/** Every row of every table of the test schema, as text (bytea as \x lower-case hex). */
async function dumpSchema(pool: pg.Pool, schema: string): Promise<{ text: string; tables: number; columns: string[] }> {
  const tables = await pool.query<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE' order by 1",
    [schema],
  );
  const cols = await pool.query<{ c: string }>(
    "select table_name || '.' || column_name as c from information_schema.columns where table_schema = $1 and data_type in ('text', 'bytea', 'character varying', 'character', 'json', 'jsonb') order by 1",
    [schema],
  );
  let text = '';
  for (const { table_name } of tables.rows) {
    const { rows } = await pool.query<{ r: string }>(`select t::text as r from "${schema}"."${table_name}" t`);
    text += rows.map((r) => `${table_name} ${r.r}`).join('\n') + '\n';
  }
  return { text, tables: tables.rows.length, columns: cols.rows.map((r) => r.c) };
}

function leaks(text: string): string[] {
  return [...secrets].filter((s) => text.includes(s)).map((s) => `${s.slice(0, 4)}… (${s.length} chars)`);
}

t.test('the scan finds a secret where there is one (self-test)', async (t) => {
  t.ok(secrets.size >= 18, `${secrets.size} secret encodings`);
  t.same(leaks(`{"x":"${pspKey.toString('hex')}"}`).length, 1, 'a key in lower-case hex');
  t.same(leaks(`{"x":"${pspKey.toString('hex').toUpperCase()}"}`).length, 1, 'a key in upper-case hex');
  t.same(leaks(`\\x${masterHex}`).length, 1, 'the master key as bytea text');
  t.same(leaks('nothing here'), []);
});

t.test('DE52 is translated from the PSP key to the acquirer key; failures decline without an acquirer call', async (t) => {
  const store = await SoftHsm.create(keyFile, { masterKey: parseMasterKey(masterHex) });
  await store.loadKey('zpk:psp-alpha', pspKey);
  for (const [a, k] of acqKeys) await store.loadKey(`zpk:${a}`, k);
  await store.close();

  const sw = await startTestSwitch(t, 'pin-translation', undefined, {
    security: { keyFile },
    psp: { port: 0, listeners: [{ port: 0, name: 'psp-beta' }] },
  });
  for (const [a, k] of acqKeys) sw.sims.get(a)!.setPinCheck({ zpk: k.toString('hex').toUpperCase(), pin: '1234' });
  const client = await sw.client();
  const pool = sw.db.pool;

  /** The PIN check at the acquirer the request went to (by its acquirer STAN). */
  const checkAtAcquirer = async (req: IsoMessage) => {
    const row = await rowOf(pool, req, 'psp-alpha');
    t.ok(row?.acquirer, 'routed to an acquirer');
    const { rows } = await pool.query<{ acq_stan: string }>('select acq_stan from switch_intent where txn_id = $1 and attempt = 1', [row!.txn_id]);
    const sim = sw.sims.get(row!.acquirer!)!;
    return { acquirer: row!.acquirer!, check: sim.pinChecks().find((c) => c.stan === rows[0]!.acq_stan) };
  };

  await t.test('PIN 1234: the acquirer gets its own block for the same PIN and approves', async (t) => {
    for (const mti of ['0100', '0200']) {
      const pan = testPan();
      const sent = pspBlock('1234', pan);
      const req = auth({ mti, pan });
      req.set(52, sent);
      t.equal(rc(await client.send(req)), '00', `${mti} approved`);
      const { acquirer, check } = await checkAtAcquirer(req);
      t.ok(check, `${mti}: the acquirer checked a PIN block`);
      t.equal(check!.verdict, 'correct', `${mti}: the simulator read PIN 1234 under zpk:${acquirer}`);
      const got = secret(Buffer.from(check!.pinBlock, 'hex'));
      t.not(got.toString('hex'), sent.toString('hex'), `${mti}: not the PSP's block`);
      t.not(got.toString('hex'), buildPinBlock0('1234', pan).toString('hex'), `${mti}: not the clear block`);
      t.equal(
        opensslDecrypt(acqKeys.get(acquirer)!, got).toString('hex'),
        buildPinBlock0('1234', pan).toString('hex'),
        `${mti}: openssl decrypts it to PIN 1234`,
      );
      t.not(opensslDecrypt(pspKey, got).toString('hex'), buildPinBlock0('1234', pan).toString('hex'), `${mti}: it is not under the PSP's key`);
    }
  });

  await t.test('a wrong PIN is translated and the acquirer answers 55', async (t) => {
    const pan = testPan();
    const req = auth({ pan });
    req.set(52, pspBlock('9999', pan));
    t.equal(rc(await client.send(req)), '55');
    const { check } = await checkAtAcquirer(req);
    t.equal(check?.verdict, 'wrong', 'the acquirer read another PIN');
    secret(Buffer.from(check!.pinBlock, 'hex'));
  });

  await t.test('no PIN block: nothing checked, approved as before', async (t) => {
    const req = auth();
    t.equal(rc(await client.send(req)), '00');
    const { check } = await checkAtAcquirer(req);
    t.equal(check, undefined, 'the acquirer got no DE52');
  });

  await t.test('a PSP without a PIN key: declined, recorded, no acquirer call', async (t) => {
    const beta = await PspClient.connect({ port: sw.h.pspPorts['listener-1']!, timeoutMs: 30_000 });
    t.teardown(() => beta.close());
    const before = financialIn(sw.sims);
    const pan = testPan();
    const req = auth({ pan });
    req.set(52, pspBlock('1234', pan));
    const res = await beta.send(req);
    t.equal(rc(res), '96', 'responseCodes.pinError');
    t.equal(res.get(52), undefined, 'no PIN block in the answer');
    t.match(await rowOf(pool, req, 'psp-beta'), { state: 'declined', response_code: '96', reason: 'PIN block not translated', acquirer: null });
    t.equal(financialIn(sw.sims), before, 'no acquirer got a request');
  });

  await t.test('a block not under the PSP key: declined, recorded, no acquirer call', async (t) => {
    const before = financialIn(sw.sims);
    const pan = testPan();
    const req = auth({ pan });
    req.set(52, pspBlock('1234', pan, otherKey));
    t.equal(rc(await client.send(req)), '96');
    const row = await rowOf(pool, req, 'psp-alpha');
    t.match(row, { state: 'declined', response_code: '96', reason: 'PIN block not translated', acquirer: null });
    t.equal(financialIn(sw.sims), before, 'no acquirer got a request');
    const ok = auth();
    t.equal(rc(await client.send(ok)), '00', 'the next request without DE52 is sent');
    t.equal(financialIn(sw.sims), before + 1, 'and counted: the count can move');
  });

  await t.test('after the run: no PIN block, key or master key in any row or log line', async (t) => {
    const { text, tables, columns } = await dumpSchema(pool, sw.db.schema);
    t.ok(tables >= 10, `${tables} tables dumped`);
    t.ok(
      columns.includes('switch_intent.reason') && columns.includes('switch_intent.pan_masked'),
      `${columns.length} text/bytea/json columns, the intent's among them`,
    );
    t.match(text, /411111\*{6}1111/, 'the dump holds the rows of this test (masked PANs)');
    t.match(text, /PIN block not translated/, 'and the declines with their reason');
    t.same(leaks(text), [], 'no secret in the database');
    await sw.h.stop();
    const log = fs.readFileSync(sw.logFile, 'utf8');
    t.match(log, /"code":"SW_ERR_SEC_KEY_NOT_FOUND"/, 'the missing PSP key is logged with its code');
    t.match(log, /"code":"SW_ERR_SEC_PIN_BLOCK"/, 'the foreign block too');
    t.match(log, /key store opened/);
    t.same(leaks(log), [], 'no secret in the log');
  });
});

t.test('no key store and DE52: declined the same way, no acquirer call', async (t) => {
  const sw = await startTestSwitch(t, 'pin-no-key-store');
  const client = await sw.client();
  const before = financialIn(sw.sims);
  const pan = testPan();
  const req = auth({ pan });
  req.set(52, pspBlock('1234', pan));
  t.equal(rc(await client.send(req)), '96');
  t.match(await rowOf(sw.db.pool, req, 'psp-alpha'), { state: 'declined', response_code: '96', reason: 'PIN block not translated', acquirer: null });
  t.equal(financialIn(sw.sims), before, 'no acquirer got a request');
  t.equal(rc(await client.send(auth())), '00', 'without DE52 the switch works as before');
  const { text } = await dumpSchema(sw.db.pool, sw.db.schema);
  t.same(leaks(text), [], 'no secret in the database');
  await sw.h.stop();
  const log = fs.readFileSync(sw.logFile, 'utf8');
  t.match(log, /"code":"SW_ERR_SEC_NO_KEY_STORE"/, 'logged with its code');
  t.same(leaks(log), [], 'no secret in the log');
});

t.test('start-up: a missing or wrong master key, or a tampered key file, stops the switch with its typed error', async (t) => {
  const db = await testDb(t, { max: 4 });
  const refusal = async (): Promise<string> => {
    try {
      await startPlain(t, { db, overrides: { security: { keyFile } } });
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
    return 'started';
  };
  t.teardown(() => {
    process.env.SW_MASTER_KEY = masterHex;
  });
  delete process.env.SW_MASTER_KEY;
  t.equal(await refusal(), 'SW_ERR_SEC_MASTER_KEY', 'no SW_MASTER_KEY');
  process.env.SW_MASTER_KEY = secret(bytes(32)).toString('base64');
  t.equal(await refusal(), 'SW_ERR_SEC_KEY_FILE', 'another master key');
  process.env.SW_MASTER_KEY = masterHex;
  const doc = JSON.parse(fs.readFileSync(keyFile, 'utf8')) as { keys: Record<string, { data: string }> };
  const entry = doc.keys['zpk:acq-b']!;
  const data = Buffer.from(entry.data, 'base64');
  data[0] = data[0]! ^ 1;
  entry.data = data.toString('base64');
  fs.writeFileSync(keyFile, JSON.stringify(doc), { mode: 0o600 });
  t.equal(await refusal(), 'SW_ERR_SEC_KEY_TAMPERED', 'an entry changed in the file');
});
