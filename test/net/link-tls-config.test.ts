/**
 * Acquirer link TLS as configured (docs/network.md, "Acquirer link TLS"): the `link.tls` block of
 * rules/acquirers.yaml checked by its schema, turned into link options with its files read at start
 * (src/switch/acquirers.ts), and what the link refuses when it is built.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage } from '../../src/iso8583/message.js';
import { AcquirerLink } from '../../src/net/index.js';
import { readRuleFiles, ruleSetFromContent, RuleSetInvalidError, DEFAULT_RULES_DIR } from '../../src/routing/rules-loader.js';
import { MemoryFailureDetector } from '../../src/routing/detector.js';
import { LinkBreakers } from '../../src/routing/breakers.js';
import { SuccessRateTracker } from '../../src/routing/success-rate.js';
import type { AcquirerDef, AcquirerLinkTls } from '../../src/routing/types.js';
import { acquirerTls, AcquirerSet } from '../../src/switch/acquirers.js';
import { makeTestPki } from '../helpers/pki.js';
import { settle } from '../helpers/net.js';

const pki = makeTestPki(t);
const codec = loadDialect('iso87-ascii');
const PIN = `sha256/${Buffer.alloc(32, 7).toString('base64')}`;

const def = (tls: AcquirerLinkTls | undefined, o: { host?: string; port?: number } = {}): AcquirerDef => ({
  id: 'acq-t',
  link: {
    host: o.host ?? 'acquirer.test',
    port: o.port ?? 9443,
    dialect: 'iso87-ascii',
    framer: 'binary2',
    connections: 1,
    timeouts_ms: { connect: 1000, response: 1000 },
    ...(tls ? { tls } : {}),
  },
});

const sync = <T>(fn: () => T) => settle(Promise.resolve().then(fn));

t.test('link.tls becomes link options, files read at start', async (t) => {
  const full = acquirerTls(def({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, pin: PIN, minVersion: 'TLSv1.3' }), 'acquirer.test');
  t.ok(full, 'options');
  t.same(full!.ca, pki.read(pki.ca.cert), 'ca: the file');
  t.same(full!.cert, pki.read(pki.client.cert), 'cert: the file');
  t.same(full!.key, pki.read(pki.client.key), 'key: the file');
  t.equal(full!.servername, 'acquirer.test', 'servername: the host');
  t.same(full!.pins, [PIN], 'one pin as a list');
  t.equal(full!.minVersion, 'TLSv1.3');

  const min = acquirerTls(def({}), 'acquirer.test');
  t.same(min, { servername: 'acquirer.test', minVersion: 'TLSv1.2' }, 'empty block: the system store, the host as name, TLS 1.2 floor');
  t.same(acquirerTls(def({}), '127.0.0.1'), { minVersion: 'TLSv1.2' }, 'an IP host: no SNI, the IP checked against the certificate');
  t.same(acquirerTls(def({ servername: 'other.test', pin: [PIN, PIN] }), '127.0.0.1'), { servername: 'other.test', minVersion: 'TLSv1.2', pins: [PIN, PIN] });
  t.equal(acquirerTls(def(undefined), 'acquirer.test'), undefined, 'no block: plain TCP');

  // relative paths are read from the working directory
  const rel = path.relative(process.cwd(), pki.ca.cert);
  t.same(acquirerTls(def({ ca: rel }), 'x.test')!.ca, pki.read(pki.ca.cert), `relative ${rel}`);

  // and the link builds its context from them
  const link = new AcquirerLink({ name: 'acq-t', host: '127.0.0.1', port: 1, codec, tls: full! });
  t.equal(link.options.tls?.minVersion, 'TLSv1.3');
});

t.test('a missing or unreadable file is refused at start, naming the acquirer and the path', async (t) => {
  const missing = path.join(pki.dir, 'nope', 'ca.pem');
  const r1 = await sync(() => acquirerTls(def({ ca: missing }), 'acquirer.test'));
  t.equal(r1.ok ? 'ok' : r1.error.code, 'SW_ERR_LINK_TLS_FILE');
  if (!r1.ok) t.equal(r1.error.message, `acquirer acq-t: TLS ca file ${missing} cannot be read (ENOENT)`);

  const dir = path.join(pki.dir, 'a-directory.key');
  mkdirSync(dir);
  const r2 = await sync(() => acquirerTls(def({ cert: pki.client.cert, key: dir }), 'acquirer.test'));
  t.equal(r2.ok ? 'ok' : r2.error.code, 'SW_ERR_LINK_TLS_FILE');
  if (!r2.ok) t.equal(r2.error.message, `acquirer acq-t: TLS key file ${dir} cannot be read (EISDIR)`);

  const r3 = await sync(() => acquirerTls(def({ cert: pki.client.cert }), 'acquirer.test'));
  t.equal(r3.ok ? 'ok' : r3.error.code, 'SW_ERR_CONFIG_INVALID', 'a cert without its key');
});

t.test('files that are not what they claim are refused when the link is built', async (t) => {
  const garbage = path.join(pki.dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  for (const [name, tls] of [
    ['a ca that is no PEM', { ca: garbage }],
    ['a ca that is a key', { ca: pki.client.key }],
    ['a key that is not the certificate’s', { cert: pki.client.cert, key: pki.server.key }],
    ['a key that is no PEM', { cert: pki.client.cert, key: garbage }],
  ] as const) {
    const opts = acquirerTls(def(tls), 'acquirer.test')!;
    const r = await sync(() => new AcquirerLink({ name: 'acq-t', host: '127.0.0.1', port: 1, codec, tls: opts }));
    t.equal(r.ok ? 'built' : r.error.code, 'SW_ERR_LINK_TLS_CONFIG', name);
    if (!r.ok) {
      t.match(r.error.message, /^link acq-t: TLS config is invalid at tls\.(ca|\(context\)): /, 'names the link');
      t.notOk(r.error.message.includes('BEGIN'), 'quotes no PEM');
    }
  }
});

t.test('the schema of acquirers.yaml: link.tls', async (t) => {
  const withTls = (tls: unknown): Record<string, unknown> => {
    const files = readRuleFiles(DEFAULT_RULES_DIR) as { acquirers: { acquirers: Array<{ link: Record<string, unknown> }> } };
    files.acquirers.acquirers[0]!.link.tls = tls;
    return files as unknown as Record<string, unknown>;
  };
  const problem = (tls: unknown): string | null => {
    try {
      ruleSetFromContent(withTls(tls));
      return null;
    } catch (e) {
      if (!(e instanceof RuleSetInvalidError)) throw e;
      return `${e.problems[0]!.path}: ${e.problems[0]!.reason}`;
    }
  };
  t.equal(problem({ ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', servername: 'a.test', pin: PIN, minVersion: 'TLSv1.3' }), null, 'every key');
  t.equal(problem({ pin: [PIN, PIN] }), null, 'a list of pins');
  t.equal(problem({}), null, 'an empty block (system store, host name)');
  t.match(problem({ minVersion: 'TLSv1.1' }), /^\/acquirers\/0\/link\/tls\/minVersion: must be one of "TLSv1.2", "TLSv1.3"/, 'TLS 1.1 is refused');
  t.match(problem({ minVersion: 'TLSv1' }), /minVersion/, 'TLS 1.0 is refused');
  t.match(problem({ rejectUnauthorized: false }), /unknown key 'rejectUnauthorized'/, 'no way to turn verification off');
  t.match(problem({ cert: 'c.pem' }), /key/, 'cert without key');
  t.match(problem({ key: 'k.pem' }), /cert/, 'key without cert');
  t.match(problem({ pin: 'sha256/abc' }), /\/tls\/pin/, 'a malformed pin');
  t.match(problem({ pin: [] }), /\/tls\/pin/, 'an empty pin list');
});

t.test('the acquirer set: tls with the built-in simulator is refused, and nothing is left running', async (t) => {
  const detector = new MemoryFailureDetector();
  const breakers = new LinkBreakers();
  t.teardown(async () => {
    breakers.shutdown();
    await detector.close();
  });
  const base = {
    detector,
    breakers,
    successRate: new SuccessRateTracker(),
    builtInSimulators: true,
    onUnmatched: () => undefined,
    log: pino({ level: 'silent' }),
  };
  let started = 0;
  const startSimulator = async () => {
    started++;
    return { host: '127.0.0.1', port: 9, controlUrl: null, close: async () => undefined };
  };
  const r1 = await settle(AcquirerSet.start({ ...base, startSimulator, acquirers: [def({ ca: pki.ca.cert }, { port: 0 })] }));
  t.equal(r1.ok ? 'started' : r1.error.code, 'SW_ERR_CONFIG_INVALID');
  if (!r1.ok) t.match(r1.error.message, /acquirers\.acq-t\.link\.tls: the built-in simulator \(port 0\) serves plain TCP/);
  t.equal(started, 0, 'no simulator was started for it');

  // a second acquirer whose file is missing: the first one's link is closed again, not left reconnecting
  const first = { ...def({ ca: pki.ca.cert }, { host: '127.0.0.1', port: 9 }), id: 'acq-first' };
  const second = def({ ca: path.join(pki.dir, 'missing.pem') }, { host: '127.0.0.1', port: 9 });
  const links: AcquirerLink[] = [];
  const observeLink = (l: AcquirerLink) => {
    links.push(l);
    return () => undefined;
  };
  const r2 = await settle(AcquirerSet.start({ ...base, acquirers: [first, second], observeLink }));
  t.equal(r2.ok ? 'started' : r2.error.code, 'SW_ERR_LINK_TLS_FILE');
  t.equal(links.length, 1, "the first acquirer's link had started");
  const r3 = await settle(links[0]!.request(new IsoMessage('0800', { 11: '000001', 41: 'TERM0001' })));
  t.equal(r3.ok ? 'sent' : r3.error.code, 'SW_ERR_LINK_CLOSED', 'and is closed');
});
