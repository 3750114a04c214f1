/**
 * The PAN hash key (src/switch/pan-key.ts): generated once for the embedded database and kept in the data
 * folder (0600), logged once; the published development key refused everywhere; no key refused with any other
 * database — by startSwitch too, before it connects.
 * The key set (docs/security.md, "PAN hash keys"): PAN_HASH_KEYS and the key file (lines or JSON, refused when
 * group or world may read it), the first key current, the single key of earlier versions joining as k1; what
 * is refused, named by key id, never by secret; hashes checked against openssl; the set never shows a secret.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../../src/switch/config.js';
import { startSwitch } from '../../src/app/runtime.js';
import { PUBLISHED_DEV_PAN_HASH_KEY, panHashKeyFile, readPanHashKeysFile, resolvePanHashKey, resolvePanHashKeys } from '../../src/switch/pan-key.js';
import { PanKeyRing } from '../../src/ledger/pan.js';
import { isSwitchError } from '../../src/errors.js';
import { testDb } from '../helpers/db.js';
import { seededRandom, testSeed } from '../helpers/seed.js';
import { testOverrides } from '../helpers/switch.js';

function logSink() {
  const lines: string[] = [];
  return { lines, log: { info: (_o: unknown, msg?: string) => void lines.push(msg ?? '') } };
}

function dataDirIn(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pan-key-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'data', 'pg');
}

t.test('no key and the embedded database: a random key generated once, kept 0600 in the data folder, logged once', async (t) => {
  const dataDir = dataDirIn(t);
  const cfg = { database: { url: '', dataDir, poolSize: 2 }, panHashKey: '' };
  const file = panHashKeyFile(cfg);
  t.equal(file, path.join(path.dirname(dataDir), 'pan-hash.key'), 'beside data/pg: data/pan-hash.key');
  const a = logSink();
  const key = await resolvePanHashKey(cfg, a.log);
  t.ok(key.length >= 32, 'a long key');
  t.not(key, PUBLISHED_DEV_PAN_HASH_KEY);
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'mode 0600');
  t.equal(fs.readFileSync(file, 'utf8').trim(), key);
  t.equal(a.lines.length, 1, 'logged once');
  t.match(a.lines[0], file, 'naming where it is');
  t.notMatch(a.lines[0], key, 'without the key itself');

  const b = logSink();
  t.equal(await resolvePanHashKey(cfg, b.log), key, 'the next start reads the same key back');
  t.equal(b.lines.length, 0, 'and logs nothing');

  const other = dataDirIn(t);
  t.not(await resolvePanHashKey({ ...cfg, database: { ...cfg.database, dataDir: other } }, logSink().log), key, 'another checkout, another key');
});

t.test('a key file others can read is refused, naming the fix', async (t) => {
  const dataDir = dataDirIn(t);
  const cfg = { database: { url: '', dataDir, poolSize: 2 }, panHashKey: '' };
  await resolvePanHashKey(cfg, logSink().log);
  fs.chmodSync(panHashKeyFile(cfg), 0o644);
  await t.rejects(resolvePanHashKey(cfg, logSink().log), { code: 'SW_ERR_PAN_HASH_KEY', message: /can be read by other users .*chmod 600/ });
});

t.test('a configured key is used as it is; the published development key never', async (t) => {
  const dataDir = dataDirIn(t);
  t.equal(await resolvePanHashKey({ database: { url: 'postgres://h/db', dataDir, poolSize: 2 }, panHashKey: 'k'.repeat(32) }, logSink().log), 'k'.repeat(32));
  for (const url of ['', 'postgres://h/db']) {
    await t.rejects(
      resolvePanHashKey({ database: { url, dataDir, poolSize: 2 }, panHashKey: PUBLISHED_DEV_PAN_HASH_KEY }, logSink().log),
      { code: 'SW_ERR_PAN_HASH_KEY', message: /published development key.*PAN_HASH_KEY/ },
      `refused (${url || 'embedded'})`,
    );
  }
  t.notOk(fs.existsSync(panHashKeyFile({ database: { url: '', dataDir, poolSize: 2 } })), 'no key file written for a configured key');
});

t.test('no key with a database that is not the embedded one: the switch refuses to start, before connecting', async (t) => {
  const db = await testDb(t, { max: 1 });
  const over = testOverrides(db.url);
  delete over.panHashKey;
  const cfg = loadConfig({ env: {}, overrides: over });
  t.equal(cfg.panHashKey, '', 'the default is no key');
  try {
    await startSwitch(cfg, { log: pino({ level: 'silent' }) });
    t.fail('should not start');
  } catch (e) {
    t.ok(isSwitchError(e, 'SW_ERR_PAN_HASH_KEY'));
    t.match((e as Error).message, /no PAN hash key is configured, and the database is not the embedded one .*PAN_HASH_KEY/);
  }
  const { rows } = await db.pool.query(`select count(*)::int as n from information_schema.tables where table_schema = $1`, [db.schema]);
  t.equal(rows[0].n, 0, 'nothing was created in the database');
  t.throws(() => loadConfig({ env: { PAN_HASH_KEY: 'short' } }), { code: 'SW_ERR_CONFIG_INVALID', message: /panHashKey: must be 16 characters or more/ });
});

// ── the key set ──────────────────────────────────────────────────────────────────────────────────────────

/** Secrets and a PAN from a seeded source (test/helpers/seed.ts): a failure replays with its TEST_SEED. */
function material(t: Test, fallback: number) {
  const rand = seededRandom(testSeed(t, fallback));
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const secret = () => Array.from({ length: 44 }, () => chars[Math.floor(rand() * chars.length)]).join('');
  const pan = () => `411111${Array.from({ length: 6 }, () => Math.floor(rand() * 10)).join('')}1111`;
  return { secret, pan };
}

/** HMAC-SHA-256 of the PAN by openssl: an oracle independent of node's crypto. */
function opensslHmac(secret: string, pan: string): string {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', secret], { input: pan, encoding: 'utf8' });
  return out.trim().split(/\s+/).pop()!;
}

const EXTERNAL = 'postgres://h/db';
const keysCfg = (env: Record<string, string>) => loadConfig({ env: { DATABASE_URL: EXTERNAL, ...env } });
const silent = { info: () => undefined };

t.test('PAN_HASH_KEYS: the first key is current, the others compare; the single key of earlier versions joins as k1', async (t) => {
  const m = material(t, 1701);
  const [s0, s1, s2] = [m.secret(), m.secret(), m.secret()];
  const pan = m.pan();

  const lines = logSink();
  const ring = await resolvePanHashKeys(keysCfg({ PAN_HASH_KEYS: `k2:${s2},k1:${s1}` }), lines.log);
  t.same(ring.ids, ['k2', 'k1']);
  t.equal(ring.currentId, 'k2');
  t.equal(ring.hash(pan, 'k2'), opensslHmac(s2, pan), 'hashed with the secret of k2 (openssl agrees)');
  t.equal(ring.hash(pan, null), opensslHmac(s1, pan), 'a row without a key id is the legacy key k1');
  t.equal(ring.hash(pan, 'k9'), null, 'a key not in the set hashes nothing');
  t.same(ring.protect(pan), { panHash: opensslHmac(s2, pan), panKeyId: 'k2', panMasked: `${pan.slice(0, 6)}******${pan.slice(-4)}` });
  t.match(lines.lines.join('\n'), /k2 hashes, k2, k1 compare/, 'the ids are logged');
  t.notOk(
    [s1, s2].some((s) => lines.lines.join('\n').includes(s)),
    'and no secret',
  );

  const card = ring.card(pan);
  t.equal(card.matches(opensslHmac(s1, pan), 'k1'), true, "a row hashed with k1 is this card's");
  t.equal(card.matches(opensslHmac(s1, pan), null), true, 'and so is one without a key id');
  t.equal(card.matches(opensslHmac(s1, m.pan()), 'k1'), false, "another card's is not");
  t.equal(card.matches(opensslHmac(s2, pan), 'k1'), false, 'nor a hash under another key than its row names');
  t.equal(card.matches(opensslHmac(s0, pan), 'k0'), null, 'a key not in the set: nothing can tell');
  t.same(card.others(), [opensslHmac(s1, pan)], 'its hashes under the older keys');

  const joined = await resolvePanHashKeys(keysCfg({ PAN_HASH_KEYS: `k2:${s2}`, PAN_HASH_KEY: s0 }), silent);
  t.same(joined.ids, ['k2', 'k1'], 'PAN_HASH_KEY stays as k1, behind the list');
  t.equal(joined.hash(pan, null), opensslHmac(s0, pan));
  t.same(
    (await resolvePanHashKeys(keysCfg({ PAN_HASH_KEYS: `k2:${s2},k1:${s0}`, PAN_HASH_KEY: s0 }), silent)).ids,
    ['k2', 'k1'],
    'named k1 with the same secret: fine',
  );
  const single = await resolvePanHashKeys(keysCfg({ PAN_HASH_KEY: s0 }), silent);
  t.same(single.ids, ['k1'], 'PAN_HASH_KEY alone: the whole set, as k1');
  t.equal(single.protect(pan).panKeyId, 'k1');
});

t.test('what the key set refuses is named by key id or position, never by secret', async (t) => {
  const m = material(t, 1702);
  const [s0, s1, s2] = [m.secret(), m.secret(), m.secret()];
  const refused = async (env: Record<string, string>, re: RegExp, what: string) => {
    try {
      await resolvePanHashKeys(keysCfg(env), silent);
      t.fail(`${what}: not refused`);
    } catch (e) {
      t.ok(isSwitchError(e, 'SW_ERR_PAN_HASH_KEY') || isSwitchError(e, 'SW_ERR_CONFIG_INVALID'), `${what}: a typed refusal`);
      t.match((e as Error).message, re, what);
      t.notOk(
        [s0, s1, s2, PUBLISHED_DEV_PAN_HASH_KEY].some((s) => (e as Error).message.includes(s)),
        `${what}: no secret in the message`,
      );
    }
  };
  await refused(
    { PAN_HASH_KEYS: `k2:${s2},k1:${s1}`, PAN_HASH_KEY: s0 },
    /names k1 with another secret than the single key \(panHashKey\)/,
    'k1 twice, two secrets',
  );
  await refused({ PAN_HASH_KEYS: `k2:${PUBLISHED_DEV_PAN_HASH_KEY}` }, /key k2 is the published development key/, 'the published key in the list');
  await refused(
    { PAN_HASH_KEYS: `k2:${s2}`, PAN_HASH_KEY: PUBLISHED_DEV_PAN_HASH_KEY },
    /panHashKey is the published development key/,
    'the published key beside a list',
  );
  await refused({ PAN_HASH_KEYS: `k2:${s2},k2:${s1}` }, /key id k2 is given twice/, 'an id twice');
  await refused({ PAN_HASH_KEYS: `k2:${s2},k1:${s2}` }, /keys k2 and k1 .* have the same secret/, 'a secret twice');
  await refused({ PAN_HASH_KEYS: `k2:${s2}`, PAN_HASH_KEY: s2 }, /have the same secret/, 'the single key again under another id');
  await refused({ PAN_HASH_KEYS: 'k2:short' }, /at panHashKeys\.0\.secret: .*16/, 'a short secret');
  await refused({ PAN_HASH_KEYS: s1 }, /at panHashKeys\.0: .*id/, 'an entry without an id');
  await refused({ PAN_HASH_KEYS: `bad id!:${s1}` }, /at panHashKeys\.0\.id/, 'an id of other characters');
  await refused({ PAN_HASH_KEYS: `k2:${s2}`, PAN_HASH_KEYS_FILE: '/nonexistent/keys' }, /both panHashKeys .* and panHashKeysFile/, 'a list and a file');
});

t.test('the key file: "id:secret" lines or a JSON array, mode 0600; group- or world-readable is refused', async (t) => {
  const m = material(t, 1703);
  const [s1, s2] = [m.secret(), m.secret()];
  const pan = m.pan();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pan-keys-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'keys');
  const write = (text: string, mode: number) => {
    fs.writeFileSync(file, text);
    fs.chmodSync(file, mode);
  };
  write(`# PAN hash keys, current first\n\nk2:${s2}\n  k1 : ${s1}  \n`, 0o600);
  const ring = await resolvePanHashKeys(keysCfg({ PAN_HASH_KEYS_FILE: file }), silent);
  t.same(ring.ids, ['k2', 'k1'], 'lines, comments and blank lines skipped, spaces trimmed');
  t.equal(ring.hash(pan, 'k1'), opensslHmac(s1, pan));
  write(
    JSON.stringify([
      { id: 'k3', secret: s2 },
      { id: 'k1', secret: s1 },
    ]),
    0o400,
  );
  t.same(
    (await readPanHashKeysFile(file)).map((k) => k.id),
    ['k3', 'k1'],
    'a JSON array; read-only for the owner is fine',
  );

  for (const mode of [0o640, 0o604, 0o644, 0o660]) {
    write(`k2:${s2}\n`, mode);
    await t.rejects(
      resolvePanHashKeys(keysCfg({ PAN_HASH_KEYS_FILE: file }), silent),
      { code: 'SW_ERR_PAN_HASH_KEY', message: new RegExp(`can be read by other users \\(mode ${mode.toString(8)}\\).*chmod 600`) },
      `mode ${mode.toString(8)} refused`,
    );
  }
  const refusedFile = async (text: string, re: RegExp, what: string) => {
    write(text, 0o600);
    try {
      await readPanHashKeysFile(file);
      t.fail(`${what}: not refused`);
    } catch (e) {
      t.ok(isSwitchError(e, 'SW_ERR_PAN_HASH_KEY'), what);
      t.match((e as Error).message, re, what);
      t.notOk((e as Error).message.includes(s1) || (e as Error).message.includes(s1.slice(0, 12)), `${what}: the secret is not quoted`);
    }
  };
  await refusedFile(`k2:${s2}\n${s1}\n`, /line 2 is not "id:secret"/, 'a line without an id');
  await refusedFile(`[{"id":"k2","secret":"${s1}"`, /is not valid JSON/, 'broken JSON');
  await refusedFile(JSON.stringify([{ id: 'k2', secret: s1, note: 'x' }]), /entry 1 must be/, 'a JSON entry with more than id and secret');
  await refusedFile(JSON.stringify({ k2: s1 }), /must hold a JSON array/, 'a JSON object');
  await refusedFile('# nothing\n', /holds no key/, 'no key at all');
  await refusedFile(`k2:${s1.slice(0, 10)}\n`, /key k2 .* is shorter than 16 characters/, 'a short secret');
  await t.rejects(readPanHashKeysFile(path.join(dir, 'none')), { code: 'SW_ERR_PAN_HASH_KEY', message: /does not exist/ }, 'a missing file');
});

t.test('the embedded database: its generated key joins a list as k1; a list never makes one, nor does a report', async (t) => {
  const m = material(t, 1704);
  const s2 = m.secret();
  const pan = m.pan();
  const dataDir = dataDirIn(t);
  const base = { database: { url: '', dataDir, poolSize: 2 }, panHashKey: '', panHashKeysFile: '' };
  await t.rejects(resolvePanHashKey(base, silent, { generate: false }), { code: 'SW_ERR_PAN_HASH_KEY', message: /none was generated yet/ });
  const listed = await resolvePanHashKeys({ ...base, panHashKeys: [{ id: 'k2', secret: s2 }] }, silent);
  t.same(listed.ids, ['k2'], 'no generated key: the list alone');
  t.notOk(fs.existsSync(panHashKeyFile(base)), 'and none generated');
  const generated = await resolvePanHashKey(base, silent);
  const ring = await resolvePanHashKeys({ ...base, panHashKeys: [{ id: 'k2', secret: s2 }] }, silent);
  t.same(ring.ids, ['k2', 'k1'], 'the generated key is k1');
  t.equal(ring.hash(pan, null), opensslHmac(generated, pan));
});

t.test('the key set never shows a secret: JSON, util.inspect, a pino line', async (t) => {
  const m = material(t, 1705);
  const [s1, s2] = [m.secret(), m.secret()];
  const ring = new PanKeyRing([
    { id: 'k2', secret: s2 },
    { id: 'k1', secret: s1 },
  ]);
  const out: string[] = [];
  pino({ level: 'info' }, { write: (l: string) => void out.push(l) }).info({ ring, card: ring.card(m.pan()) }, 'the set');
  const shown = [JSON.stringify(ring), inspect(ring, { depth: 5, showHidden: true }), String(ring), out.join(''), JSON.stringify(ring.card(m.pan()))];
  t.match(shown[0], /"current":"k2"/, 'the ids are shown');
  for (const [i, text] of shown.entries()) t.notOk(text.includes(s1) || text.includes(s2), `form ${i}: no secret`);
  t.throws(() => new PanKeyRing([]), /at least one key/);
  t.throws(() => new PanKeyRing([{ id: 'no spaces', secret: s1 }]), /key id must match/);
});
