/**
 * The PAN hash key (src/switch/pan-key.ts): generated once for the embedded database and kept in the data
 * folder (0600), logged once; the published development key refused everywhere; no key refused with any other
 * database — by startSwitch too, before it connects.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/switch/config.js';
import { startSwitch } from '../../src/app/runtime.js';
import { PUBLISHED_DEV_PAN_HASH_KEY, panHashKeyFile, resolvePanHashKey } from '../../src/switch/pan-key.js';
import { isSwitchError } from '../../src/errors.js';
import { testDb } from '../helpers/db.js';
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
