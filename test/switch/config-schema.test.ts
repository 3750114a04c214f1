/**
 * The one config schema (docs/architecture.md, "Conventions"; docs/switch.md, "Configuration"): the type, the
 * defaults, the validation and the environment all come from CONFIG_SCHEMA; every leaf carries its default and
 * its meaning; a removed key is refused naming what replaced it; the docs name every key.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { CONFIG_JSON_SCHEMA, DEFAULT_CONFIG, REMOVED_KEYS, configLeaves, loadConfig, type SwitchConfig } from '../../src/switch/config.js';
import * as rc from '../../src/switch/response-codes.js';
import { mapResponseCode } from '../../src/switch/translate.js';
import { isSwitchError } from '../../src/errors.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

// The derived type, checked by tsc (npm test runs it first): a wrong shape fails to compile.
type Eq<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typeChecks: Array<true> = [
  true satisfies Eq<
    SwitchConfig['psp']['tls'],
    { certFile: string; keyFile: string; caFile: string; requestClientCert: boolean; requireClientCert: boolean; minVersion: 'TLSv1.2' | 'TLSv1.3' } | undefined
  >,
  true satisfies Eq<
    SwitchConfig['admin']['tokens'],
    Array<{ name: string; role: 'viewer' | 'risk-editor' | 'operator' | 'approver'; sha256: string; expires: string }>
  >,
  true satisfies Eq<SwitchConfig['logLevel'], 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>,
  true satisfies Eq<
    keyof SwitchConfig['responseCodes'],
    'unavailable' | 'formatError' | 'duplicate' | 'unknownMerchant' | 'reversedBeforeArrival' | 'systemError' | 'pinError'
  >,
  true satisfies Eq<SwitchConfig['security'], { keyFile: string }>,
  true satisfies Eq<
    SwitchConfig['saf'],
    { pollMs: number; retryInitialMs: number; retryMaxMs: number; expireAfterMs: number; timeoutMs: number; retryWindowMs: number }
  >,
  true satisfies Eq<SwitchConfig['database'], { url: string; dataDir: string; poolSize: number }>,
  true satisfies Eq<SwitchConfig['builtInSimulators'], boolean>,
  true satisfies Eq<SwitchConfig['cutoverTotals'], { enabled: boolean; delayMs: number; timeoutMs: number }>,
  true satisfies Eq<SwitchConfig['authentication'], { eciField: number; eciOffset: number }>,
  true satisfies Eq<
    keyof SwitchConfig,
    | 'psp'
    | 'admin'
    | 'database'
    | 'redis'
    | 'rulesDir'
    | 'acquirerTimeoutMs'
    | 'duplicateWindowMs'
    | 'groupCommitMs'
    | 'captures'
    | 'authentication'
    | 'cutoverTotals'
    | 'expiry'
    | 'saf'
    | 'panHashKey'
    | 'panHashKeys'
    | 'panHashKeysFile'
    | 'security'
    | 'responseCodes'
    | 'builtInSimulators'
    | 'logLevel'
  >,
];

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isSwitchError(e, 'SW_ERR_CONFIG_INVALID') ? e.message : `not the config error: ${String(e)}`;
  }
  return 'not refused';
};

t.test('the defaults come from the schema and are the documented ones', async (t) => {
  t.equal(typeChecks.length, 11);
  t.same(DEFAULT_CONFIG, {
    psp: {
      host: '127.0.0.1',
      port: 8583,
      dialect: 'iso87-ascii-bbitmap',
      framer: 'binary2',
      name: 'psp-alpha',
      maxConnections: 1000,
      maxInFlightPerConnection: 512,
      maxInFlight: 10_000,
      idleTimeoutMs: 300_000,
      drainTimeoutMs: 10_000,
      identities: [],
      listeners: [],
      perPsp: { maxConnections: 0, maxInFlight: 0, overrides: [] },
    },
    admin: {
      enabled: true,
      host: '127.0.0.1',
      port: 8080,
      tokens: [],
      metricsAccess: 'open',
      docsAccess: 'open',
      makerChecker: 'auto',
      heavyRequestsPerMinute: 30,
    },
    database: { url: '', dataDir: 'data/pg', poolSize: 10 },
    redis: { url: '', prefix: 'sw:' },
    rulesDir: 'rules',
    acquirerTimeoutMs: 0,
    duplicateWindowMs: 10 * 60_000,
    groupCommitMs: 0,
    captures: { sequenceField: 63 },
    authentication: { eciField: 61, eciOffset: 0 },
    cutoverTotals: { enabled: true, delayMs: 60_000, timeoutMs: 30_000 },
    expiry: { holdAgeMs: 7 * 24 * 3600_000, sweepIntervalMs: 60_000 },
    saf: { pollMs: 500, retryInitialMs: 1000, retryMaxMs: 60_000, expireAfterMs: 24 * 3600_000, timeoutMs: 10_000, retryWindowMs: 3600_000 },
    panHashKey: '',
    panHashKeys: [],
    panHashKeysFile: '',
    security: { keyFile: '' },
    responseCodes: {
      unavailable: '91',
      formatError: '30',
      duplicate: '94',
      unknownMerchant: '03',
      reversedBeforeArrival: '05',
      systemError: '96',
      pinError: '96',
    },
    builtInSimulators: true,
    logLevel: 'info',
  });
  t.notOk('tls' in DEFAULT_CONFIG.psp, 'an optional group has no default: absent');
});

t.test('every leaf carries its default and its meaning, in the JSON Schema too; each default is valid', async (t) => {
  const ajv = new Ajv({ strict: false });
  const nodeAt = (key: string): Record<string, unknown> =>
    key
      .split('.')
      .reduce<Record<string, unknown>>((n, k) => (n.properties as Record<string, Record<string, unknown>>)[k]!, CONFIG_JSON_SCHEMA as Record<string, unknown>);
  const valueAt = (key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], DEFAULT_CONFIG);
  const leaves = configLeaves();
  t.ok(leaves.length >= 40, `${leaves.length} leaves`);
  for (const { key, leaf } of leaves) {
    t.ok(leaf.doc.length >= 10, `${key} says what it is`);
    const node = nodeAt(key);
    t.equal(node.description, leaf.doc, `${key}: described in the JSON Schema`);
    if (key.startsWith('admin.tls.')) {
      // an optional group, absent from DEFAULT_CONFIG: its files are required once it is given, minVersion has a default
      if (leaf.default === undefined) t.ok((nodeAt('admin.tls').required as string[]).includes(key.split('.')[2]!), `${key}: required once admin.tls is given`);
      else t.ok(node.default === leaf.default && ajv.validate(node, leaf.default), `${key}: its default in the JSON Schema, valid`);
      continue;
    }
    if (key.startsWith('psp.tls.')) {
      // an optional group: absent from the defaults; once given, its files are required and the rest defaulted
      if (['psp.tls.certFile', 'psp.tls.keyFile'].includes(key)) t.equal(leaf.default, undefined, `${key}: required once psp.tls is given, no default`);
      else {
        t.same(node.default, leaf.default, `${key}: its default in the JSON Schema`);
        t.ok(ajv.validate(node, leaf.default), `${key}: its default passes its own schema`);
      }
      continue;
    }
    t.same(node.default, leaf.default, `${key}: its default in the JSON Schema`);
    t.same(valueAt(key), leaf.default, `${key}: DEFAULT_CONFIG holds its default`);
    t.ok(ajv.validate(node, leaf.default), `${key}: its default passes its own schema`);
  }
  t.same(nodeAt('psp.tls').required, ['certFile', 'keyFile']);
  t.same(nodeAt('admin.tls').required, ['certFile', 'keyFile']);
  t.ok(
    refusal(() => loadConfig({ env: {}, overrides: { psp: { tls: { certFile: 'c.pem' } } } })).includes('psp.tls'),
    'a TLS config without its key file is refused',
  );
});

t.test('the environment: each leaf names its variable; empty is unset; numbers are whole', async (t) => {
  const envs = Object.fromEntries(configLeaves().flatMap(({ key, leaf }) => (leaf.env ? [[leaf.env.name, key]] : [])));
  t.same(envs, {
    PSP_HOST: 'psp.host',
    PSP_PORT: 'psp.port',
    ADMIN_HOST: 'admin.host',
    ADMIN_PORT: 'admin.port',
    ADMIN_TOKENS: 'admin.tokens',
    DATABASE_URL: 'database.url',
    SWITCH_DATA_DIR: 'database.dataDir',
    REDIS_URL: 'redis.url',
    RULES_DIR: 'rulesDir',
    ACQUIRER_TIMEOUT_MS: 'acquirerTimeoutMs',
    PAN_HASH_KEY: 'panHashKey',
    PAN_HASH_KEYS: 'panHashKeys',
    PAN_HASH_KEYS_FILE: 'panHashKeysFile',
    SW_KEY_FILE: 'security.keyFile',
    LOG_LEVEL: 'logLevel',
  });
  const c = loadConfig({ env: { PSP_PORT: '', DATABASE_URL: '', ADMIN_PORT: '0', ACQUIRER_TIMEOUT_MS: '250' } });
  t.equal(c.psp.port, 8583, 'an empty variable leaves the default');
  t.equal(c.database.url, '');
  t.equal(c.admin.port, 0, 'a number is a number');
  t.equal(c.acquirerTimeoutMs, 250);
  t.match(
    refusal(() => loadConfig({ env: { ACQUIRER_TIMEOUT_MS: '1.5' } })),
    /env ACQUIRER_TIMEOUT_MS: must be a whole number/,
  );
  t.match(
    refusal(() => loadConfig({ env: { ADMIN_PORT: '-1' } })),
    /env ADMIN_PORT/,
  );
});

t.test('a removed key is refused, naming what replaced it', async (t) => {
  t.ok(REMOVED_KEYS['responseCodes.noRoute'], 'responseCodes.noRoute is listed as removed');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'old.json');
  writeFileSync(file, JSON.stringify({ responseCodes: { noRoute: '92', unavailable: '91' } }));
  const m = refusal(() => loadConfig({ env: {}, file }));
  t.match(m, /at responseCodes\.noRoute: removed: set no_route_decline_code in rules\/routing\.yaml/, 'names the key and its replacement');
  t.ok(m.includes('old.json'), 'and the file that still has it');
  t.match(
    refusal(() => loadConfig({ env: {}, overrides: { responseCodes: { noRoute: '92' } } })),
    /responseCodes\.noRoute: removed: .*no_route_decline_code.*the overrides/,
    'from the overrides too',
  );
  writeFileSync(file, JSON.stringify({ responseCodes: { unavailable: '91' } }));
  t.equal(loadConfig({ env: {}, file }).responseCodes.unavailable, '91', 'the other codes are still set');
  t.notOk('noRoute' in loadConfig({ env: {} }).responseCodes);
});

t.test('a value refused with the reason its leaf gives; loadConfig returns a copy of the defaults', async (t) => {
  t.match(
    refusal(() => loadConfig({ env: {}, overrides: { panHashKey: 'short' } })),
    /at panHashKey: must be 16 characters or more, or empty/,
  );
  const c = loadConfig({ env: {} });
  c.admin.tokens.push({ name: 'x', role: 'viewer', sha256: 'a'.repeat(64), expires: '' });
  c.saf.pollMs = 1;
  t.same(DEFAULT_CONFIG.admin.tokens, [], 'changing a loaded config leaves the defaults alone');
  t.equal(DEFAULT_CONFIG.saf.pollMs, 500);
});

t.test('docs/switch.md names every key (with its variable) and every removed key; README every variable', async (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs/switch.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Configuration'), doc.indexOf('\n## ', doc.indexOf('## Configuration') + 1));
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const { key, leaf } of configLeaves()) {
    const row = rows.find((r) => r.split('|')[1]!.includes(`\`${key}\``));
    t.ok(row, `${key} is in the configuration table`);
    if (row && leaf.env) t.ok(row.includes(`\`${leaf.env.name}\``), `${key}: its row names ${leaf.env.name}`);
    if (leaf.env) t.ok(readme.includes(`\`${leaf.env.name}\``), `README names ${leaf.env.name}`);
  }
  for (const key of Object.keys(REMOVED_KEYS))
    t.ok(
      rows.some((r) => r.startsWith(`| \`${key}\` |`)),
      `${key} is in the removed keys table`,
    );
  for (const r of rows) {
    for (const [, key] of r.split('|')[1]!.matchAll(/`([A-Za-z.]+)`/g)) {
      t.ok(configLeaves().some((l) => l.key === key) || key! in REMOVED_KEYS, `the table's ${key} is a key of the schema`);
    }
  }
});

t.test('response codes: the configurable ones default to the named codes; no literal code in the flows', async (t) => {
  t.same(DEFAULT_CONFIG.responseCodes, {
    unavailable: rc.ISSUER_INOPERATIVE,
    formatError: rc.FORMAT_ERROR,
    duplicate: rc.DUPLICATE_TRANSMISSION,
    unknownMerchant: rc.INVALID_MERCHANT,
    reversedBeforeArrival: rc.DO_NOT_HONOUR,
    systemError: rc.SYSTEM_MALFUNCTION,
    pinError: rc.SYSTEM_MALFUNCTION,
  });
  t.same([rc.APPROVED, rc.INVALID_TRANSACTION, rc.INVALID_AMOUNT, rc.NO_SUCH_RECORD], ['00', '12', '13', '25']);
  t.equal(mapResponseCode(undefined, undefined), rc.SYSTEM_MALFUNCTION);
  const files = [
    ...readdirSync(path.join(ROOT, 'src/switch/flows'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `src/switch/flows/${f}`),
    'src/switch/sweeper.ts',
    'src/switch/translate.ts',
  ];
  for (const f of files) {
    const src = readFileSync(path.join(ROOT, f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '') // comments
      .replace(/(?<=[{,]\s*)'[0-9]{1,3}'(?=\s*:)|\[\s*'[0-9]{1,3}'\s*\]/g, ''); // field numbers: object keys, index access
    t.same(src.match(/['"`][0-9]{2}['"`]/g) ?? [], [], `${f}: codes come from src/switch/response-codes.ts or the config`);
  }
});
