/**
 * The admin server's security (docs/admin.md, "TLS" and "Metrics and docs access"; docs/security.md, "Admin"):
 *  - TLS with a certificate the test makes with the openssl CLI: HTTPS works and verifies against that
 *    certificate, plain HTTP to the TLS port gets no answer, TLS 1.1 is refused (openssl s_client is the
 *    independent client, and a control server shows the same client does speak TLS 1.1), minVersion TLSv1.3
 *    refuses TLS 1.2;
 *  - files that cannot be used are SW_ERR_ADMIN_TLS naming the file and its key, before anything listens;
 *  - /metrics and /docs open by default, 401 in the registry's shape without a valid token when set to "token",
 *    200 with a viewer token; the rest of the API keeps its own rules;
 *  - a real Prometheus scrapes /metrics over HTTPS with a bearer token from a credentials_file; a job without it
 *    is refused (401), so the token is what makes the scrape work.
 */
import t from 'tap';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { Counter, Registry } from 'prom-client';
import { testDb } from '../helpers/db.js';
import { eventually } from '../helpers/wait.js';
import { startAdminServer, type AdminListenOptions, type AdminServer } from '../../src/admin/app.js';
import { loadAdminTls } from '../../src/admin/tls.js';
import { isSwitchError } from '../../src/errors.js';
import { loadConfig } from '../../src/switch/config.js';
import { freePort } from '../../src/store/postgres.js';
import type { TestDb } from '../helpers/db.js';
import { TOKEN_ENTRIES, TOKENS } from './fixtures.js';
import { ROOT } from '../helpers/switch.js';
import { childEnv } from '../helpers/node-args.js';

const run = promisify(execFile);
const OPENSSL = process.env.OPENSSL_PATH ?? 'openssl';
const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';

interface Pki {
  dir: string;
  cert: string;
  key: string;
  /** A second key pair: its key does not belong to `cert`. */
  otherKey: string;
}

/** A self-signed P-256 certificate for 127.0.0.1 and localhost, made by the openssl CLI in a temporary folder. */
async function makePki(t: { teardown(f: () => unknown): void }): Promise<Pki> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-tls-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const req = (k: string, c: string) =>
    run(OPENSSL, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      k,
      '-out',
      c,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
  await req(key, cert);
  const otherKey = path.join(dir, 'other-key.pem');
  await req(otherKey, path.join(dir, 'other-cert.pem'));
  return { dir, cert, key, otherKey };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The TLS version of the connection, for HTTPS. */
  protocol: string | null;
}

/** GET over http or https (trusting `ca`), with a bearer token if given. */
function get(url: string, o: { token?: string; ca?: Buffer } = {}): Promise<Answer> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: 'GET',
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        ...(o.ca ? { ca: o.ca } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          const s = res.socket as tls.TLSSocket;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, protocol: typeof s.getProtocol === 'function' ? s.getProtocol() : null });
        });
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** openssl s_client with one protocol version: did the handshake complete, and with which version. */
async function sClient(port: number, version: '-tls1_1' | '-tls1_2' | '-tls1_3', ca: string): Promise<{ ok: boolean; out: string }> {
  // SECLEVEL=0: OpenSSL 3 refuses TLS 1.1 at its default level on the client side; here only the server may refuse
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, version, '-cipher', 'DEFAULT@SECLEVEL=0', '-CAfile', ca, '-verify_return_error', '-brief'];
  const p = spawn(OPENSSL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  p.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
  p.stdin.end();
  const [code] = (await once(p, 'close')) as [number | null];
  return { ok: code === 0 && /CONNECTION ESTABLISHED/.test(out), out };
}

async function adminOn(t: { teardown(f: () => unknown): void }, db: TestDb, listen: AdminListenOptions, registry?: Registry): Promise<AdminServer> {
  const s = await startAdminServer({ pool: db.pool, tokens: TOKEN_ENTRIES, ...(registry ? { registry } : {}) }, { host: '127.0.0.1', port: 0, ...listen });
  t.teardown(() => s.close());
  return s;
}

function scrapeRegistry(): Registry {
  const registry = new Registry();
  new Counter({ name: 'switch_admin_security_test_total', help: 'a metric of this test', registers: [registry] }).inc(3);
  return registry;
}

t.test('TLS: https with the configured certificate; plain http to the TLS port fails; TLS 1.1 refused', async (t) => {
  const db = await testDb(t);
  const pki = await makePki(t);
  const ca = fs.readFileSync(pki.cert);
  // from the config, as npm start reads it: minVersion left out takes its default, TLSv1.2
  const cfg = loadConfig({ env: {}, overrides: { admin: { port: 0, tls: { certFile: pki.cert, keyFile: pki.key } } } });
  t.ok(cfg.admin.tls, 'admin.tls is accepted by the config schema');
  const s = await adminOn(t, db, cfg.admin);
  t.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the server says it is https');

  const live = await get(`${s.url}/health/live`, { ca });
  t.equal(live.status, 200, 'a request over https works, the certificate verified against the one made by openssl');
  t.same(JSON.parse(live.body), { status: 'ok' });
  t.match(live.protocol, /^TLSv1\.[23]$/);
  const who = await get(`${s.url}/api/whoami`, { ca, token: TOKENS.viewer });
  t.same(JSON.parse(who.body), { name: 'vera', role: 'viewer' }, 'the API over https, with a token');
  await t.rejects(get(`${s.url}/health/live`), /self-signed|certificate/i, 'a client that does not trust the certificate is refused');

  await t.rejects(get(`http://127.0.0.1:${s.port}/health/live`), 'plain http to the TLS port gets no HTTP answer');

  const v11 = await sClient(s.port, '-tls1_1', pki.cert);
  t.notOk(v11.ok, 'TLS 1.1 is refused');
  t.match(v11.out, /protocol version|no protocols available|unsupported protocol/i, `the handshake fails on the version: ${v11.out.slice(0, 200)}`);
  const v12 = await sClient(s.port, '-tls1_2', pki.cert);
  t.ok(v12.ok, 'TLS 1.2 is accepted');
  t.match(v12.out, /Protocol version: TLSv1\.2/);

  // the control: the same openssl client does complete a TLS 1.1 handshake with a server that allows it, so
  // the refusal above is the admin server's
  const control = tls.createServer({ cert: ca, key: fs.readFileSync(pki.key), minVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (c) => c.end());
  control.listen(0, '127.0.0.1');
  await once(control, 'listening');
  t.teardown(() => new Promise<void>((r) => control.close(() => r())));
  const c11 = await sClient((control.address() as { port: number }).port, '-tls1_1', pki.cert);
  t.ok(c11.ok, `control: openssl speaks TLS 1.1 to a server that allows it (${c11.out.slice(0, 200)})`);
  t.match(c11.out, /Protocol version: TLSv1\.1/);
});

t.test('TLS: minVersion TLSv1.3 refuses TLS 1.2; nothing below TLSv1.2 can be configured', async (t) => {
  const db = await testDb(t);
  const pki = await makePki(t);
  const cfg = loadConfig({ env: {}, overrides: { admin: { port: 0, tls: { certFile: pki.cert, keyFile: pki.key, minVersion: 'TLSv1.3' } } } });
  const s = await adminOn(t, db, cfg.admin);
  const v12 = await sClient(s.port, '-tls1_2', pki.cert);
  t.notOk(v12.ok, 'TLS 1.2 refused under minVersion TLSv1.3');
  const v13 = await sClient(s.port, '-tls1_3', pki.cert);
  t.ok(v13.ok, 'TLS 1.3 accepted');
  t.match(v13.out, /Protocol version: TLSv1\.3/);
  const live = await get(`${s.url}/health/live`, { ca: fs.readFileSync(pki.cert) });
  t.equal(live.protocol, 'TLSv1.3');

  for (const v of ['TLSv1.1', 'TLSv1', 'SSLv3']) {
    try {
      loadConfig({ env: {}, overrides: { admin: { tls: { certFile: pki.cert, keyFile: pki.key, minVersion: v } } } });
      t.fail(`minVersion ${v} accepted`);
    } catch (e) {
      t.ok(
        isSwitchError(e, 'SW_ERR_CONFIG_INVALID') && e.message.includes('admin.tls.minVersion'),
        `minVersion ${v} refused by the config: ${(e as Error).message}`,
      );
    }
  }
  const refused = await loadAdminTls({ certFile: pki.cert, keyFile: pki.key, minVersion: 'TLSv1.1' as 'TLSv1.2' }).catch((e: unknown) => e);
  t.ok(isSwitchError(refused, 'SW_ERR_CONFIG_INVALID'), 'and by loadAdminTls, for a caller without the schema');
  t.throws(() => loadConfig({ env: {}, overrides: { admin: { tls: { certFile: pki.cert } } } }), /admin\.tls/, 'a TLS config without its key file is refused');
});

t.test('TLS: files that cannot be used are a typed start error naming the file, before anything listens', async (t) => {
  const db = await testDb(t);
  const pki = await makePki(t);
  const notPem = path.join(pki.dir, 'not-pem.txt');
  fs.writeFileSync(notPem, 'not a certificate\n');
  const missing = path.join(pki.dir, 'missing.pem');
  const cases: Array<[string, { certFile: string; keyFile: string }, string, string, RegExp]> = [
    ['missing certificate', { certFile: missing, keyFile: pki.key }, missing, 'admin.tls.certFile', /cannot be read \(no such file\)/],
    ['missing key', { certFile: pki.cert, keyFile: missing }, missing, 'admin.tls.keyFile', /cannot be read \(no such file\)/],
    ['a folder', { certFile: pki.dir, keyFile: pki.key }, pki.dir, 'admin.tls.certFile', /cannot be read \(is a directory\)/],
    ['certificate not PEM', { certFile: notPem, keyFile: pki.key }, notPem, 'admin.tls.certFile', /is not a PEM certificate/],
    ['key not PEM', { certFile: pki.cert, keyFile: notPem }, notPem, 'admin.tls.keyFile', /is not a PEM private key/],
    ['key of another certificate', { certFile: pki.cert, keyFile: pki.otherKey }, pki.otherKey, 'admin.tls.keyFile', /does not belong to the certificate/],
  ];
  const port = await freePort();
  for (const [what, tlsCfg, file, key, reason] of cases) {
    const e = await startAdminServer({ pool: db.pool, tokens: TOKEN_ENTRIES, migrate: false }, { host: '127.0.0.1', port, tls: tlsCfg }).then(
      async (s) => {
        await s.close();
        return null;
      },
      (err: unknown) => err,
    );
    t.ok(isSwitchError(e, 'SW_ERR_ADMIN_TLS'), `${what}: SW_ERR_ADMIN_TLS`);
    if (!isSwitchError(e)) continue;
    t.equal(e.params.path, file, `${what}: names the file`);
    t.equal(e.params.key, key, `${what}: and its config key`);
    t.match(e.message, reason, `${what}: ${e.message}`);
    t.notMatch(e.message, /BEGIN|PRIVATE KEY-----/, `${what}: no file content in the message`);
  }
  // nothing listened: the port is still free
  const probe = http.createServer();
  probe.listen(port, '127.0.0.1');
  await once(probe, 'listening');
  t.pass('the port was never taken');
  await new Promise<void>((r) => probe.close(() => r()));
});

t.test('npm start with an admin TLS file missing: one line naming it, exit 1, before the database is tried', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-tls-start-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'missing.crt');
  const cfgFile = path.join(dir, 'config.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ admin: { port: 0, tls: { certFile: missing, keyFile: path.join(dir, 'missing.key') } }, psp: { port: 0 } }));
  // a database nobody listens on: were the TLS files checked after it, the failure would name the database
  const p = spawn(process.execPath, ['--import', 'tsx', 'bin/switch.ts'], {
    cwd: ROOT,
    env: childEnv({
      SWITCH_CONFIG: cfgFile,
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      PAN_HASH_KEY: 'admin-security-test-key-0123456789',
      ADMIN_TOKENS: '',
      SWITCH_DATA_DIR: path.join(dir, 'data', 'pg'),
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const [code] = (await once(p, 'exit')) as [number | null];
  t.equal(code, 1, 'exit 1');
  t.match(err, /SW_ERR_ADMIN_TLS/, 'the code');
  t.ok(err.includes(`${missing} (admin.tls.certFile) cannot be read (no such file)`), `names the file and its key: ${err.trim()}`);
  t.notMatch(err, /database|SW_ERR_START_DATABASE/i, 'before the database was tried');
  t.notOk(fs.existsSync(path.join(dir, 'data', 'admin.token')), 'no quick-start token file is left by a start that failed');
});

t.test('/metrics and /docs: open by default; with "token" 401 without a valid token, 200 with a viewer token', async (t) => {
  const db = await testDb(t);
  const registry = scrapeRegistry();
  const docsPaths = ['/docs/json', '/docs/yaml', '/docs/', '/docs', '/docs/static/index.css', '/docs/static/swagger-ui-bundle.js'];

  await t.test('default: both open, the API still needs a token', async (t) => {
    const cfg = loadConfig({ env: {} });
    t.equal(cfg.admin.metricsAccess, 'open');
    t.equal(cfg.admin.docsAccess, 'open');
    t.notOk(cfg.admin.tls, 'no TLS unless configured');
    const s = await adminOn(t, db, { metricsAccess: cfg.admin.metricsAccess, docsAccess: cfg.admin.docsAccess }, registry);
    t.match(s.url, /^http:\/\//);
    const m = await get(`${s.url}/metrics`);
    t.equal(m.status, 200, '/metrics without a token');
    t.match(m.body, /switch_admin_security_test_total 3/);
    for (const p of docsPaths) t.equal((await get(`${s.url}${p}`)).status, 200, `${p} without a token`);
    t.equal((await get(`${s.url}/api/whoami`)).status, 401, 'the API is not opened by it');
  });

  await t.test('"token" for both', async (t) => {
    const s = await adminOn(t, db, { metricsAccess: 'token', docsAccess: 'token' }, registry);
    for (const p of ['/metrics', ...docsPaths]) {
      const none = await get(`${s.url}${p}`);
      t.equal(none.status, 401, `${p} without a token: 401`);
      t.same(JSON.parse(none.body), { code: 'SW_ERR_ADMIN_UNAUTHORIZED', message: 'admin API: a bearer token is required' }, `${p}: the registry's shape`);
      t.equal(none.headers['www-authenticate'], 'Bearer');
      t.notMatch(none.body, /switch_admin_security_test_total|openapi|swagger/i, `${p}: nothing of the content`);
      const bad = await get(`${s.url}${p}`, { token: 'not-a-real-token' });
      t.equal(bad.status, 401, `${p} with a wrong token: 401`);
      t.equal(JSON.parse(bad.body).code, 'SW_ERR_ADMIN_UNAUTHORIZED');
      const ok = await get(`${s.url}${p}`, { token: TOKENS.viewer });
      t.equal(ok.status, 200, `${p} with a viewer token: 200`);
    }
    const m = await get(`${s.url}/metrics`, { token: TOKENS.operator });
    t.equal(m.status, 200, 'any role will do');
    t.match(m.body, /switch_admin_security_test_total 3/, 'the metrics themselves');
    const doc = JSON.parse((await get(`${s.url}/docs/json`, { token: TOKENS.viewer })).body) as { openapi: string };
    t.equal(doc.openapi, '3.0.3', 'the OpenAPI document');
    t.equal((await get(`${s.url}/health/live`)).status, 200, 'health stays public');
    t.equal((await get(`${s.url}/health/ready`)).headers['content-type']?.startsWith('application/json'), true, 'readiness too');
  });

  await t.test('each setting on its own', async (t) => {
    const metricsOnly = await adminOn(t, db, { metricsAccess: 'token' }, registry);
    t.equal((await get(`${metricsOnly.url}/metrics`)).status, 401);
    t.equal((await get(`${metricsOnly.url}/docs/json`)).status, 200, 'docs stay open');
    const docsOnly = await adminOn(t, db, { docsAccess: 'token' }, registry);
    t.equal((await get(`${docsOnly.url}/metrics`)).status, 200, 'metrics stay open');
    t.equal((await get(`${docsOnly.url}/docs/json`)).status, 401);
  });

  await t.test('the config refuses other values', async (t) => {
    for (const over of [{ metricsAccess: 'required' }, { docsAccess: true }, { metricsAccess: '' }]) {
      try {
        loadConfig({ env: {}, overrides: { admin: over } });
        t.fail(`accepted ${JSON.stringify(over)}`);
      } catch (e) {
        t.ok(isSwitchError(e, 'SW_ERR_CONFIG_INVALID'), `refused ${JSON.stringify(over)}: ${(e as Error).message}`);
      }
    }
  });
});

t.test('a real Prometheus scrapes /metrics over https with a bearer token from a credentials_file', async (t) => {
  t.ok(fs.existsSync(PROMETHEUS), `prometheus at ${PROMETHEUS}`);
  const db = await testDb(t);
  const pki = await makePki(t);
  const s = await adminOn(t, db, { metricsAccess: 'token', tls: { certFile: pki.cert, keyFile: pki.key } }, scrapeRegistry());
  const tokenFile = path.join(pki.dir, 'switch.token');
  fs.writeFileSync(tokenFile, `${TOKENS.viewer}\n`, { mode: 0o600 });
  const port = await freePort();
  const job = (name: string, auth: string[]) => [
    `  - job_name: ${name}`,
    '    scheme: https',
    '    metrics_path: /metrics',
    '    tls_config:',
    `      ca_file: ${pki.cert}`,
    ...auth,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${s.port}']`,
  ];
  const config = [
    'global:',
    '  scrape_interval: 1s',
    'scrape_configs:',
    ...job('with-token', ['    authorization:', '      type: Bearer', `      credentials_file: ${tokenFile}`]),
    ...job('without-token', []),
    '',
  ].join('\n');
  const cfgFile = path.join(pki.dir, 'prometheus.yml');
  fs.writeFileSync(cfgFile, config);
  if (fs.existsSync(PROMTOOL)) {
    const checked = await run(PROMTOOL, ['check', 'config', cfgFile]);
    t.match(checked.stdout + checked.stderr, /SUCCESS/, 'promtool accepts the scrape config');
  }
  const prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${cfgFile}`,
      `--storage.tsdb.path=${path.join(pki.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let promLog = '';
  prom.stderr.on('data', (b: Buffer) => (promLog = (promLog + b.toString('utf8')).slice(-20_000)));
  const exited = once(prom, 'exit');
  t.teardown(async () => {
    if (prom.exitCode === null && prom.signalCode === null) {
      prom.kill('SIGTERM');
      const timer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  });
  const api = async (p: string): Promise<any> => {
    if (prom.exitCode !== null) throw new Error(`prometheus exited (${prom.exitCode}): ${promLog.slice(-2000)}`);
    return (await fetch(`http://127.0.0.1:${port}${p}`)).json();
  };
  interface Target {
    labels: { job: string };
    health: string;
    lastError: string;
  }
  const targets = await eventually(
    async () => {
      const r = await api('/api/v1/targets');
      const active = (r.data?.activeTargets ?? []) as Target[];
      const done = active.length === 2 && active.every((x) => x.health !== 'unknown');
      return done ? active : null;
    },
    'both targets scraped at least once',
    60_000,
    200,
  );
  const by = (job: string) => targets.find((x) => x.labels.job === job)!;
  t.equal(by('with-token').health, 'up', `the job with the token scrapes (${by('with-token').lastError})`);
  t.equal(by('without-token').health, 'down', 'the job without it does not');
  t.match(by('without-token').lastError, /401/, `refused with 401: ${by('without-token').lastError}`);
  const value = await eventually(
    async () => {
      const r = await api(`/api/v1/query?query=${encodeURIComponent('switch_admin_security_test_total{job="with-token"}')}`);
      return r.data?.result?.[0]?.value?.[1] as string | undefined;
    },
    'the scraped metric in Prometheus',
    30_000,
    200,
  );
  t.equal(value, '3', 'the metric reached Prometheus through the token-protected, TLS scrape');
});
