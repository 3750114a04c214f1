/**
 * PAN hash key rotation on a real switch and a real PostgreSQL (docs/security.md, "PAN hash keys"), one schema
 * through three lives of the switch:
 *  A. the single key of earlier versions (PAN_HASH_KEY, id k1): hashes carry the key id; a card blocklisted by
 *     its k1 token is declined; one row made a row of before key ids (no id stored);
 *  B. rotated by a key file (0600) "k2, then k1": new hashes carry k2; repeats of authorizations made under k1,
 *     with and without a stored id, are recognised (the original's answer replayed, nothing sent); the same key
 *     with another card is not (94); the k1-blocklisted card is still declined;
 *  C. k1 removed (PAN_HASH_KEYS "k3,k2"): the switch starts and warns with the count of rows still hashed with
 *     k1; a repeat of a k1 original fails safe (94, nothing sent); a k2 one is still recognised.
 * `npm run pan-keys -- report` after each life counts the rows per key id and table as the test made them.
 * Every log line (debug level) and every report is scanned: no key secret, no full PAN.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PspClient } from '../../simulators/psp/client.js';
import { startSwitch, type SwitchHandle } from '../../src/app/runtime.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { createLogger } from '../../src/log.js';
import { loadConfig } from '../../src/switch/config.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { bareChildEnv } from '../helpers/node-args.js';
import { seededRandom, testSeed } from '../helpers/seed.js';
import { ROOT, auth, builtInSimulators, nextStan, rc, testOverrides } from '../helpers/switch.js';
import { eventually } from '../helpers/wait.js';

type Plain = Record<string, unknown>;

const hmac = (secret: string, pan: string) => crypto.createHmac('sha256', secret).update(pan).digest('hex');

/** HMAC-SHA-256 by openssl: the stored hash checked against a second implementation. */
function opensslHmac(secret: string, pan: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', ['dgst', '-sha256', '-hmac', secret], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.once('error', reject);
    p.once('close', () => resolve(out.trim().split(/\s+/).pop()!));
    p.stdin.end(pan);
  });
}

/** `npm run pan-keys -- report` as package.json runs it, with only the variables given. */
function report(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; json: Plain }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/pan-keys.ts', 'report'], {
      cwd: ROOT,
      env: bareChildEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (code) => {
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      let json: Plain = {};
      try {
        json = JSON.parse(last) as Plain;
      } catch {
        // left empty: the assertions on it fail and show stdout
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

interface Life {
  h: SwitchHandle;
  client: PspClient;
  /** Requests that reached the acquirers of this life (its own built-in simulators). */
  sent(): number;
  stop(): Promise<void>;
}

t.test('PAN hash keys: ids stored, rotation, a removed key, the report, nothing secret in the logs', async (t) => {
  const rand = seededRandom(testSeed(t, 8583));
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const secret = () => Array.from({ length: 43 }, () => chars[Math.floor(rand() * chars.length)]).join('');
  const pans = new Set<string>();
  const pan = () => {
    const p = `411111${Array.from({ length: 6 }, () => Math.floor(rand() * 10)).join('')}1111`;
    pans.add(p);
    return p;
  };
  const [K1, K2, K3] = [secret(), secret(), secret()];
  const db: TestDb = await testDb(t, { max: 4 });
  const logs: string[] = [];
  const outputs: string[] = [];

  // P2 is blocklisted by its token under k1, in the rules the first start imports
  const [P1, P2, P3, P4, P5] = [pan(), pan(), pan(), pan(), pan()];
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'pan-keys-rules-'));
  t.teardown(() => rmSync(rulesDir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const riskFile = path.join(rulesDir, 'risk.yaml');
  const risk = parseYaml(readFileSync(riskFile, 'utf8')) as { blocked: { tokens: string[] } };
  risk.blocked.tokens = [hmac(K1, P2).slice(0, 32)];
  writeFileSync(riskFile, stringifyYaml(risk));

  const start = async (over: Plain): Promise<Life> => {
    const cfg = loadConfig({ env: {}, overrides: testOverrides(db.url, { rulesDir, logLevel: 'debug', panHashKey: '', ...over }) });
    const sims = builtInSimulators();
    const log = createLogger({ name: 'switch', level: 'debug', destination: { write: (l: string) => void logs.push(l) } });
    const h = await startSwitch(cfg, { log, startSimulator: sims.startSimulator });
    const client = await PspClient.connect({ port: h.pspPort, timeoutMs: 30_000 });
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        await client.close().catch(() => undefined);
        await h.stop();
      })());
    t.teardown(stop);
    const sent = () => [...sims.byId.values()].reduce((n, s) => n + s.journal.count({ direction: 'in', mti: ['0100', '0101'] }), 0);
    return { h, client, sent, stop };
  };
  const rowOf = async (req: IsoMessage) => {
    const { rows } = await db.pool.query<{ id: string; pan_hash: string; pan_key: string | null }>(
      `select id, pan_hash, pan_key from switch_txn where psp_stan = $1 and psp_terminal = $2 and mti = $3`,
      [req.getString(11), req.getString(41), req.mti],
    );
    return rows[0];
  };
  const repeatOf = (orig: IsoMessage, pan = orig.getString(2)!) =>
    auth({ mti: '0101', pan, amount: Number(orig.getString(4)), stan: orig.getString(11)!, dt: orig.getString(7)! });
  const payment = { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'SHOP00000000001', currency: 978, amount: 2_500n };
  const masked = (p: string) => `${p.slice(0, 6)}******${p.slice(-4)}`;

  // ── A: the single key of earlier versions, k1 ────────────────────────────────────────────────────────
  const A = await start({ panHashKey: K1 });
  const a1 = auth({ pan: P1, stan: nextStan() });
  const a1r = await A.client.send(a1);
  t.equal(rc(a1r), '00', 'A: approved');
  const a1row = (await rowOf(a1))!;
  t.equal(a1row.pan_key, 'k1', 'A: the hash carries its key id, k1');
  t.equal(a1row.pan_hash, await opensslHmac(K1, P1), 'A: HMAC-SHA-256 of the PAN under k1 (openssl agrees)');
  t.equal(rc(await A.client.send(auth({ pan: P2 }))), '59', 'A: the card blocklisted by its k1 token is declined (fatal risk)');
  const a3 = auth({ pan: P3, stan: nextStan() });
  const a3r = await A.client.send(a3);
  t.equal(rc(a3r), '00');
  // a row of before key ids: its id is null (what migration 006 leaves on the rows it finds)
  const legacy = await db.pool.query(`update switch_intent set pan_key = null where txn_id = $1`, [(await rowOf(a3))!.id]);
  t.equal(legacy.rowCount, 1);
  await A.h.ledger.hold('pk-plan-k1', payment, { panHash: hmac(K1, P1), panKeyId: 'k1', panMasked: masked(P1) });
  await A.h.ledger.hold('pk-plan-legacy', payment, { panHash: hmac(K1, P3), panMasked: masked(P3) });
  t.equal(A.sent(), 2, 'A: two requests reached the acquirers (the blocklisted card none)');
  await A.stop();

  const r1 = await report({ DATABASE_URL: db.url, PAN_HASH_KEY: K1 });
  outputs.push(r1.stdout, r1.stderr);
  t.equal(r1.code, 0, `report after A exits 0 (${r1.stderr})`);
  t.match(r1.json, {
    current: 'k1',
    keys: ['k1'],
    rows: { switch_intent: { k1: 3 }, ledger_plan: { k1: 2 } },
    withoutId: { switch_intent: 1, ledger_plan: 1 },
    total: { k1: 5 },
    missing: {},
  });
  t.same(Object.keys(r1.json.total as Plain), ['k1'], 'only k1 so far');
  t.match(r1.stdout, /^k1\s+current\s+3\s+2\s+5\s+2$/m, 'the table: k1, current, 3 intents, 2 plans, 5 in all, 2 without an id');

  // ── B: rotated; a key file (0600), k2 current, k1 kept ───────────────────────────────────────────────────
  const keyDir = mkdtempSync(path.join(os.tmpdir(), 'pan-keys-'));
  t.teardown(() => rmSync(keyDir, { recursive: true, force: true }));
  const keyFile = path.join(keyDir, 'pan-hash-keys');
  writeFileSync(keyFile, `# current first\nk2:${K2}\nk1:${K1}\n`);
  chmodSync(keyFile, 0o600);
  const B = await start({ panHashKeysFile: keyFile });
  const b1 = auth({ pan: P4, stan: nextStan() });
  const b1r = await B.client.send(b1);
  t.equal(rc(b1r), '00', 'B: approved');
  const b1row = (await rowOf(b1))!;
  t.equal(b1row.pan_key, 'k2', 'B: new hashes carry k2');
  t.equal(b1row.pan_hash, await opensslHmac(K2, P4), 'B: made with the secret of k2');

  const rep1 = await B.client.send(repeatOf(a1));
  t.equal(rc(rep1), '00', 'B: the repeat of an authorization made under k1 is recognised');
  t.equal(rep1.getString(38), a1r.getString(38), "B: the original's auth code replayed");
  const rep3 = await B.client.send(repeatOf(a3));
  t.equal(rc(rep3), '00', 'B: so is the repeat of one hashed before key ids (no id stored: k1)');
  t.equal(rep3.getString(38), a3r.getString(38));
  t.equal(rc(await B.client.send(repeatOf(a1, P5))), '94', 'B: the same duplicate key with another card is another payment: 94');
  t.equal(rc(await B.client.send(auth({ pan: P2 }))), '59', 'B: the card blocklisted by its k1 token is still declined');
  t.equal(B.sent(), 1, 'B: only the new authorization reached an acquirer (no repeat, no blocked card)');
  await B.h.ledger.hold('pk-plan-k2', payment, { panHash: hmac(K2, P4), panKeyId: 'k2', panMasked: masked(P4) });
  t.match(logs.join(''), /PAN hash keys: k2 hashes, k2, k1 compare/, 'B: the key ids are logged at start');
  await B.stop();

  const r2 = await report({ DATABASE_URL: db.url, PAN_HASH_KEYS_FILE: keyFile });
  outputs.push(r2.stdout, r2.stderr);
  t.equal(r2.code, 0, `report after the rotation exits 0 (${r2.stderr})`);
  t.match(r2.json, {
    current: 'k2',
    keys: ['k2', 'k1'],
    rows: { switch_intent: { k1: 3, k2: 2 }, ledger_plan: { k1: 2, k2: 1 } },
    withoutId: { switch_intent: 1, ledger_plan: 1 },
    total: { k1: 5, k2: 3 },
    missing: {},
  });

  // ── C: k1 removed while rows still use it ─────────────────────────────────────────────────────────────
  const C = await start({
    panHashKeys: [
      { id: 'k3', secret: K3 },
      { id: 'k2', secret: K2 },
    ],
  });
  const warned = await eventually(
    () => logs.map((l) => JSON.parse(l) as Plain).find((l) => l.code === 'SW_ERR_PAN_HASH_KEY_MISSING'),
    'the warning about the rows of k1',
  );
  t.match(warned, { level: 'warn', keyId: 'k1', rows: 5, tables: { switch_intent: 3, ledger_plan: 2 } }, 'C: started, and warned with the count of k1 rows');
  t.match(String(warned.msg), /PAN hash key k1 is not in the key set, yet 5 stored rows were hashed with it \(switch_intent 3, ledger_plan 2\)/);
  t.equal(logs.filter((l) => l.includes('SW_ERR_PAN_HASH_KEY_MISSING')).length, 1, 'C: one warning, for k1 only (k2 is still in the set)');
  t.equal(rc(await C.client.send(repeatOf(a1))), '94', 'C: a repeat of a k1 original fails safe: 94, not the original answer');
  const rep4 = await C.client.send(repeatOf(b1));
  t.equal(rc(rep4), '00', 'C: a repeat of a k2 original is still recognised');
  t.equal(rep4.getString(38), b1r.getString(38));
  t.equal(C.sent(), 0, 'C: neither repeat reached an acquirer');
  await C.stop();

  const r3 = await report({ DATABASE_URL: db.url, PAN_HASH_KEYS: `k3:${K3},k2:${K2}` });
  outputs.push(r3.stdout, r3.stderr);
  t.equal(r3.code, 1, 'report with k1 removed exits 1');
  t.match(r3.json, { current: 'k3', keys: ['k3', 'k2'], missing: { k1: 5 }, total: { k1: 5, k2: 3 } });
  t.match(r3.stdout, /^k1\s+NOT IN THE SET\s+3\s+2\s+5\s+2$/m);

  // ── nothing secret anywhere ────────────────────────────────────────────────────────────────────────────
  const all = [...logs, ...outputs].join('\n');
  t.ok(logs.length > 50, `${logs.length} log lines scanned (debug level, three lives)`);
  for (const [name, s] of Object.entries({ K1, K2, K3 })) t.notOk(all.includes(s), `no ${name} secret in any log line or report`);
  for (const p of pans) t.notOk(all.includes(p), `no full PAN ${masked(p)} in any log line or report`);
});
