/**
 * Switch config (defaults, JSON file, environment, overrides; unknown keys refused), DE90 and response-code
 * translation, the keyed mutex and the id generators.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CONFIG, loadConfig } from '../../src/switch/config.js';
import { isSwitchError } from '../../src/errors.js';
import { IsoMessage } from '../../src/iso8583/message.js';
import { mapResponseCode, originalData, parseOriginalData, pspResponse, toAcquirer } from '../../src/switch/translate.js';
import { KeyedMutex } from '../../src/switch/mutex.js';
import { newTxnId, RrnGenerator } from '../../src/switch/ids.js';

const refused = (f: () => unknown, path: RegExp) => {
  try {
    f();
  } catch (e) {
    return isSwitchError(e, 'SW_ERR_CONFIG_INVALID') && path.test(e.message);
  }
  return false;
};

t.test('config: defaults, file, environment, overrides (later wins)', async (t) => {
  const d = loadConfig({ env: {} });
  t.same(d, DEFAULT_CONFIG);
  t.equal(d.psp.port, 8583);
  t.equal(d.psp.dialect, 'iso87-ascii-bbitmap');
  t.equal(d.psp.framer, 'binary2');
  t.equal(d.admin.port, 8080);
  t.equal(d.expiry.holdAgeMs, 7 * 24 * 3600_000, 'holds expire after 7 days by default');

  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ psp: { port: 9000, name: 'psp-beta' }, saf: { pollMs: 100 } }));
  const c = loadConfig({
    env: {
      SWITCH_CONFIG: file,
      PSP_PORT: '9100',
      DATABASE_URL: 'postgres://x@h/db',
      REDIS_URL: 'redis://h:1',
      ADMIN_PORT: '0',
      RULES_DIR: '/r',
      PAN_HASH_KEY: 'k'.repeat(32),
      LOG_LEVEL: 'warn',
      ACQUIRER_TIMEOUT_MS: '1500',
      PSP_HOST: '0.0.0.0',
      ADMIN_HOST: '0.0.0.0',
      SWITCH_DATA_DIR: '/d',
    },
    overrides: { saf: { retryInitialMs: 5 } },
  });
  t.equal(c.psp.port, 9100, 'env over file');
  t.equal(c.psp.name, 'psp-beta', 'file over defaults');
  t.equal(c.psp.host, '0.0.0.0');
  t.equal(c.saf.pollMs, 100);
  t.equal(c.saf.retryInitialMs, 5, 'overrides last');
  t.equal(c.saf.retryWindowMs, DEFAULT_CONFIG.saf.retryWindowMs, 'nested defaults kept');
  t.equal(c.database.url, 'postgres://x@h/db');
  t.equal(c.database.dataDir, '/d');
  t.equal(c.redis.url, 'redis://h:1');
  t.equal(c.admin.port, 0);
  t.equal(c.admin.host, '0.0.0.0');
  t.equal(c.rulesDir, '/r');
  t.equal(c.logLevel, 'warn');
  t.equal(c.acquirerTimeoutMs, 1500);
  t.equal(loadConfig({ env: {}, file }).psp.port, 9000, 'explicit file');
});

t.test('config: refuses unknown keys, bad values, bad env numbers, unreadable files', async (t) => {
  t.ok(
    refused(() => loadConfig({ env: {}, overrides: { psp: { prot: 1 } } }), /psp.*prot/),
    'unknown nested key named',
  );
  t.ok(
    refused(() => loadConfig({ env: {}, overrides: { colour: 'red' } }), /colour/),
    'unknown top-level key named',
  );
  t.ok(refused(() => loadConfig({ env: {}, overrides: { psp: { port: 70000 } } }), /psp\.port/));
  t.ok(refused(() => loadConfig({ env: {}, overrides: { responseCodes: { unavailable: 'x' } } }), /responseCodes\.unavailable/));
  t.ok(refused(() => loadConfig({ env: {}, overrides: { panHashKey: 'short' } }), /panHashKey/));
  t.ok(refused(() => loadConfig({ env: { PSP_PORT: '12ab' } }), /PSP_PORT/));
  t.ok(refused(() => loadConfig({ env: { LOG_LEVEL: 'loud' } }), /logLevel/));
  t.ok(refused(() => loadConfig({ env: {}, file: '/nonexistent/x.json' }), /x\.json/));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'a.json'), '[1,2]');
  t.ok(refused(() => loadConfig({ env: {}, file: path.join(dir, 'a.json') }), /JSON object/));
  writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ saf: { pollMS: 5 } }));
  t.ok(
    refused(() => loadConfig({ env: {}, file: path.join(dir, 'b.json') }), /at saf\.pollMS: unknown key in .*b\.json/),
    'an unknown key of a file is named with its path and the file',
  );
  t.equal(loadConfig({ env: {} }).panHashKey, '', 'no PAN hash key by default (src/switch/pan-key.ts decides)');
});

t.test('translate: DE90, response codes, answers, acquirer requests without the PSP ids', async (t) => {
  const de90 = originalData('0100', '000123', '1122120000');
  t.equal(de90.length, 42);
  t.same(parseOriginalData(de90), { mti: '0100', stan: '000123', dt: '1122120000' });
  t.equal(parseOriginalData('0100'), null);
  t.equal(parseOriginalData(undefined), null);
  t.equal(parseOriginalData('x'.repeat(42)), null);
  t.equal(mapResponseCode({ N7: '05' }, 'N7'), '05');
  t.equal(mapResponseCode({ N7: '05' }, '51'), '51', 'unmapped passes through');
  t.equal(mapResponseCode(undefined, undefined), '96', 'no DE39 is a malfunction');
  const req = new IsoMessage('0100', {
    2: '4111111111111111',
    4: '000000001000',
    7: '1122120000',
    11: '000042',
    35: '4111111111111111=2812',
    41: 'TERM0001',
    42: 'SHOP00000000001',
    49: '978',
    52: 'ABCDEF0123456789',
  });
  const acq = toAcquirer(req, { stan: '000777', rrn: '612312000001', dt: '1122120001', terminalId: 'TA000001', merchantId: 'MA0000000000001' });
  t.equal(acq.getString(11), '000777');
  t.equal(acq.getString(41), 'TA000001');
  t.equal(acq.getString(42), 'MA0000000000001');
  t.equal(acq.getString(37), '612312000001');
  t.equal(acq.getString(2), '4111111111111111', 'the PAN goes to the acquirer');
  const res = pspResponse(req, '00', { rrn: '612312000001', authCode: 'A1B2C3' });
  t.equal(res.mti, '0110');
  t.equal(res.getString(11), '000042');
  t.equal(res.getString(41), 'TERM0001');
  t.equal(res.getString(38), 'A1B2C3');
  t.equal(res.get(35), undefined, 'no track data in the answer');
  t.equal(res.get(52), undefined, 'no PIN block in the answer');
});

t.test('mutex: same key in order, other keys concurrently, errors release the key', async (t) => {
  const m = new KeyedMutex();
  const order: string[] = [];
  const slow = (tag: string, ms: number) => () =>
    new Promise<string>((r) =>
      setTimeout(() => {
        order.push(tag);
        r(tag);
      }, ms),
    );
  const a = m.run('k', slow('a1', 40));
  const b = m.run('k', slow('a2', 1));
  const c = m.run('j', slow('b1', 1));
  const failing = m.run('k', () => Promise.reject(new Error('boom'))).catch((e: Error) => e.message);
  const d = m.run('k', slow('a3', 1));
  await Promise.all([a, b, c, failing, d]);
  t.same(order, ['b1', 'a1', 'a2', 'a3']);
  t.equal(await failing, 'boom');
  t.equal(m.size, 0, 'no key left behind');
});

t.test('ids: transaction ids unique and ordered by time; RRNs of 12 digits', async (t) => {
  const ids = new Set(Array.from({ length: 10_000 }, () => newTxnId()));
  t.equal(ids.size, 10_000);
  const now = Date.now();
  t.ok(newTxnId(now) < newTxnId(now + 1), 'sortable by time (8 base36 digits of ms until 2059)');
  const g = new RrnGenerator();
  const r = Array.from({ length: 100 }, () => g.next(new Date('2026-03-01T10:00:00Z')));
  t.ok(r.every((x) => /^[0-9]{12}$/.test(x)));
  t.equal(new Set(r).size, 100);
  t.equal(r[0]!.slice(0, 6), '606010', 'year digit, day of year, hour');
});
