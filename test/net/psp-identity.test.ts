/**
 * PSP identity by mutual TLS on the PSP server (docs/security.md, "PSP identity"): certificates made here by the
 * openssl CLI (one CA, two PSP client certificates, one with a subject no identity maps, one from another CA with
 * a subject that would map); identity by subject and by sha256 fingerprint (openssl's, in another spelling);
 * unmapped, untrusted and missing certificates refused after the handshake, counted and logged with their code and
 * no key material; per-PSP shares across two servers, one PSP refused while the other is served.
 */
import t from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { pino } from 'pino';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage, responseMti } from '../../src/iso8583/message.js';
import {
  PspIdentityMap,
  PspQuotas,
  normalizeFingerprint,
  parseSubject,
  startPspServer,
  PspServer,
  type PspHandler,
  type PspServerEvents,
  type PspServerOptions,
} from '../../src/net/psp-server.js';
import { createFramer } from '../../src/wire/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { authRequest, nextEvent, settle, stanOf } from '../helpers/net.js';
import { makePki, type KeyPair } from '../helpers/pki.js';
import { eventually } from '../helpers/wait.js';

const codec = loadDialect('iso87-ascii-bbitmap');
const framer = createFramer();
type Tap = { teardown(fn: () => unknown): void };

const pki = makePki(t);
const ca = pki.authority('psp');
const otherCa = pki.authority('other');
const serverPair = ca.issue('server', '/CN=localhost', 'server');
const alpha = ca.issue('alpha', '/CN=psp-alpha/O=Alpha Payments', 'client');
const beta = ca.issue('beta', '/CN=psp-beta/O=Beta Payments', 'client');
const stranger = ca.issue('stranger', '/CN=psp-unknown/O=Nobody', 'client');
// the subject of alpha, from a CA the server does not trust
const impostor = otherCa.issue('impostor', '/CN=psp-alpha/O=Alpha Payments', 'client');

// beta by fingerprint, spelled as an operator might paste it: lower case, no colons
const betaFp = beta.fingerprint256.replace(/:/g, '').toLowerCase();
const IDENTITIES = [
  { name: 'psp-alpha', subject: 'CN=psp-alpha' },
  { name: 'psp-beta', fingerprint256: betaFp },
];

/** Answers 00 and remembers the PSP each request came from, by STAN. */
function recording(): { handler: PspHandler; pspOf: Map<string, string> } {
  const pspOf = new Map<string, string>();
  return {
    pspOf,
    handler: async (m, ctx) => {
      pspOf.set(m.getString(11) ?? '', ctx.psp);
      return new IsoMessage(responseMti(m.mti), { 11: m.getString(11)!, 41: m.getString(41)!, 39: '00' });
    },
  };
}

async function mtlsServer(t: Tap, o: Partial<PspServerOptions> & { require?: boolean } = {}): Promise<PspServer> {
  const { require = true, ...rest } = o;
  const s = await startPspServer({
    codec,
    framer,
    handler: recording().handler,
    name: 'psp-mtls',
    psp: 'psp-fallback',
    identities: IDENTITIES,
    tls: { cert: serverPair.cert, key: serverPair.key, ca: ca.cert, requestClientCert: true, requireClientCert: require },
    ...rest,
  });
  t.teardown(() => s.close());
  return s;
}

async function connect(t: Tap, port: number, pair: KeyPair | null, extra: tls.ConnectionOptions = {}): Promise<PspClient> {
  const c = await PspClient.connect({
    port,
    codec,
    framer,
    timeoutMs: 20_000,
    tls: { ca: ca.cert, servername: 'localhost', ...(pair ? { cert: pair.cert, key: pair.key } : {}), ...extra },
  });
  t.teardown(() => c.close());
  return c;
}

/** A client the server refuses after the handshake: its handshake completes, then the server closes it. */
async function refusedAfterHandshake(t: Tap, s: PspServer, pair: KeyPair | null): Promise<PspServerEvents['refused'][0]> {
  const refused = nextEvent<PspServerEvents['refused'][0]>(s, 'refused');
  const c = await connect(t, s.port, pair);
  const ev = await refused;
  if (!c.closed) await once(c, 'close');
  return ev;
}

t.test('the identity map: subjects parsed, fingerprints normalised, bad entries refused', async (t) => {
  t.same(parseSubject('CN=psp-beta, O=Beta Payments'), [
    ['CN', 'psp-beta'],
    ['O', 'Beta Payments'],
  ]);
  t.same(parseSubject('cn=a\\,b'), [['CN', 'a,b']], 'an escaped comma stays in the value; attribute names are case-free');
  for (const bad of ['', 'psp-beta', '=x', 'CN=', 'CN=a,,O=b', 'CN=a\\']) t.equal(parseSubject(bad), null, `${JSON.stringify(bad)} refused`);
  t.equal(normalizeFingerprint(betaFp), beta.fingerprint256, "lower case without colons is openssl's fingerprint");
  t.equal(normalizeFingerprint('AB:CD'), null, 'too short');
  for (const [ids, why] of [
    [[{ name: 'x', subject: 'CN=x', fingerprint256: betaFp }], /exactly one of subject and fingerprint256/],
    [[{ name: 'x' }], /exactly one of subject and fingerprint256/],
    [[{ name: '', subject: 'CN=x' }], /name is required/],
    [[{ name: 'x', fingerprint256: 'zz' }], /32 bytes of hex/],
    [[{ name: 'x', subject: 'nonsense' }], /attribute=value/],
    [
      [
        { name: 'a', fingerprint256: betaFp },
        { name: 'b', fingerprint256: beta.fingerprint256 },
      ],
      /already mapped to a/,
    ],
  ] as const) {
    t.throws(() => new PspIdentityMap(ids), { code: 'SW_ERR_NET_TLS_CONFIG', message: why });
  }
});

t.test('the server refuses identities it could never use and client certificates it could not check', async (t) => {
  const make = (o: Partial<PspServerOptions>) => () => new PspServer({ codec, handler: recording().handler, ...o });
  t.throws(make({ identities: IDENTITIES }), { code: 'SW_ERR_NET_TLS_CONFIG', message: /identities need tls/ }, 'identities without TLS');
  t.throws(
    make({ identities: IDENTITIES, tls: { cert: serverPair.cert, key: serverPair.key } }),
    { code: 'SW_ERR_NET_TLS_CONFIG', message: /identities need tls with requestClientCert/ },
    'identities without asking for client certificates',
  );
  t.throws(
    make({ tls: { cert: serverPair.cert, key: serverPair.key, requireClientCert: true } }),
    { code: 'SW_ERR_NET_TLS_CONFIG', message: /need a CA bundle/ },
    'client certificates without a CA of their own (the system roots would trust any public CA)',
  );
  t.throws(
    make({ tls: { cert: serverPair.cert, key: serverPair.key, minVersion: 'TLSv1.1' as 'TLSv1.2' } }),
    { code: 'SW_ERR_NET_TLS_CONFIG', message: /minVersion/ },
    'nothing older than TLS 1.2',
  );
});

t.test('identity by subject and by fingerprint: the PSP of every request on the connection', async (t) => {
  const rec = recording();
  const s = await mtlsServer(t, { handler: rec.handler });
  const accepted: string[] = [];
  s.on('connection', (e) => accepted.push(e.psp));
  const a = await connect(t, s.port, alpha);
  const b = await connect(t, s.port, beta);
  const answers = await Promise.all([
    a.send(authRequest(stanOf(1))),
    b.send(authRequest(stanOf(2))),
    a.send(authRequest(stanOf(3))),
    b.send(authRequest(stanOf(4))),
  ]);
  t.same(
    answers.map((m) => m.getString(39)),
    ['00', '00', '00', '00'],
  );
  t.same(Object.fromEntries(rec.pspOf), { '000001': 'psp-alpha', '000002': 'psp-beta', '000003': 'psp-alpha', '000004': 'psp-beta' });
  t.same(accepted.sort(), ['psp-alpha', 'psp-beta'], "the 'connection' event names the identity");
  t.equal(s.stats.clientCertUnmapped + s.stats.clientCertUntrusted + s.stats.clientCertMissing, 0, 'nothing refused');
});

t.test('refused after the handshake: unmapped, untrusted, missing; counted and logged with the code, no key material', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const rec = recording();
  const s = await mtlsServer(t, { logger, handler: rec.handler });

  const unmapped = await refusedAfterHandshake(t, s, stranger);
  t.match(unmapped, { reason: 'unmapped', code: 'SW_ERR_NET_CLIENT_CERT_UNMAPPED' });
  const untrusted = await refusedAfterHandshake(t, s, impostor);
  t.match(untrusted, { reason: 'untrusted', code: 'SW_ERR_NET_CLIENT_CERT_UNTRUSTED' }, "another CA's certificate is refused although its subject maps");
  const missing = await refusedAfterHandshake(t, s, null);
  t.match(missing, { reason: 'no-certificate', code: 'SW_ERR_NET_CLIENT_CERT_MISSING' });
  t.match(s.stats, { clientCertUnmapped: 1, clientCertUntrusted: 1, clientCertMissing: 1, connectionsAccepted: 0, connectionsRefused: 3 });
  t.equal(rec.pspOf.size, 0, 'the handler saw no request from any of them');

  const refusedLines = lines.filter((l) => l.msg === 'PSP connection refused after the handshake');
  t.same(
    refusedLines.map((l) => l.code),
    ['SW_ERR_NET_CLIENT_CERT_UNMAPPED', 'SW_ERR_NET_CLIENT_CERT_UNTRUSTED', 'SW_ERR_NET_CLIENT_CERT_MISSING'],
    'one warn line each, with its code',
  );
  t.match(refusedLines[0], { level: 40, subject: /CN=psp-unknown/, fingerprint: stranger.fingerprint256 }, 'the unmapped subject and fingerprint, to map it');
  t.match(String(refusedLines[1]!.reason), /^[A-Z_]+$/, "the untrusted one's verification error (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE)");
  const text = JSON.stringify(lines);
  for (const pair of [stranger, impostor, serverPair]) {
    const keyLine = pair.key.toString('utf8').split('\n')[1]!;
    t.ok(keyLine.length > 20, 'a line of a private key to look for');
    t.notOk(text.includes(keyLine), 'no private key in the log');
  }
  t.notOk(text.includes('-----BEGIN'), 'no PEM in the log');
});

t.test('with client certificates asked for but not required, a connection without one is the server psp', async (t) => {
  const rec = recording();
  const s = await mtlsServer(t, { handler: rec.handler, require: false });
  const anon = await connect(t, s.port, null);
  const b = await connect(t, s.port, beta);
  t.equal((await anon.send(authRequest(stanOf(11)))).getString(39), '00');
  t.equal((await b.send(authRequest(stanOf(12)))).getString(39), '00');
  t.equal(rec.pspOf.get('000011'), 'psp-fallback', 'no certificate: the server psp');
  t.equal(rec.pspOf.get('000012'), 'psp-beta', 'a certificate still maps');
  const refused = await refusedAfterHandshake(t, s, stranger);
  t.equal(refused.reason, 'unmapped', 'an unmapped certificate is refused even when none is required');
});

t.test('minVersion TLSv1.3: a TLS 1.2 client is refused at the handshake', async (t) => {
  const s = await mtlsServer(t, {
    tls: { cert: serverPair.cert, key: serverPair.key, ca: ca.cert, requireClientCert: true, minVersion: 'TLSv1.3' },
  });
  const old = await settle(connect(t, s.port, alpha, { maxVersion: 'TLSv1.2' }));
  t.equal(old.ok, false, 'TLS 1.2 refused');
  await eventually(() => s.stats.tlsErrors >= 1, 'the failed handshake counted');
  const c = await connect(t, s.port, alpha);
  t.equal((c.socket as tls.TLSSocket).getProtocol(), 'TLSv1.3');
  t.equal((await c.send(authRequest(stanOf(21)))).getString(39), '00');
});

t.test('per-PSP shares across two servers: the PSP over its share is refused, the other still served', async (t) => {
  const quotas = new PspQuotas({ perPsp: [{ name: 'psp-beta', maxConnections: 1, maxInFlight: 2 }] });
  // beta's requests wait until the test lets them go; alpha's are answered at once
  const held: Array<() => void> = [];
  const handler: PspHandler = async (m, ctx) => {
    if (ctx.psp === 'psp-beta') await new Promise<void>((r) => held.push(r));
    return new IsoMessage(responseMti(m.mti), { 11: m.getString(11)!, 41: m.getString(41)!, 39: '00' });
  };
  const one = await mtlsServer(t, { handler, quotas, name: 'one' });
  const two = await mtlsServer(t, { handler, quotas, name: 'two' });

  const b1 = await connect(t, one.port, beta);
  await eventually(() => quotas.connections('psp-beta') === 1, 'beta connected');
  // a second connection of beta, on the other server: over its share of 1
  const limit = nextEvent<PspServerEvents['limit'][0]>(two, 'limit');
  const refused = await refusedAfterHandshake(t, two, beta);
  t.match(refused, { reason: 'psp-connections', code: 'SW_ERR_NET_PSP_CONNECTION_LIMIT', psp: 'psp-beta' });
  t.match(await limit, { kind: 'psp-connections', psp: 'psp-beta' });
  t.equal(two.stats.pspConnectionsRefused, 1);
  // alpha has no share of its own: as many connections as the servers allow
  const a1 = await connect(t, two.port, alpha);
  const a2 = await connect(t, one.port, alpha);
  await eventually(() => quotas.connections('psp-alpha') === 2, 'alpha connected twice');

  // in flight: beta's two fill its share; its third is answered 91 at once
  const first = [b1.send(authRequest(stanOf(31))), b1.send(authRequest(stanOf(32)))];
  await eventually(() => quotas.inFlightOf('psp-beta') === 2, 'beta has two in flight');
  const third = await b1.send(authRequest(stanOf(33)));
  t.equal(third.getString(39), '91', "beta's request over its share: unavailable at once");
  t.equal(quotas.inFlightOf('psp-beta'), 2, 'the refused one was never counted in its share');
  t.equal(one.stats.pspInFlightRefused, 1);
  // alpha, meanwhile, on both servers
  t.same(
    (await Promise.all([a1.send(authRequest(stanOf(34))), a2.send(authRequest(stanOf(35)))])).map((m) => m.getString(39)),
    ['00', '00'],
    'alpha is served while beta is at its share',
  );
  t.equal(held.length, 2, "beta's two are still held");
  for (const release of held.splice(0)) release();
  t.same(
    (await Promise.all(first)).map((m) => m.getString(39)),
    ['00', '00'],
  );
  await eventually(() => quotas.inFlightOf('psp-beta') === 0, "beta's share released");
  const again = b1.send(authRequest(stanOf(36)));
  await eventually(() => held.length === 1, 'the next request of beta reached the handler');
  held.pop()!();
  t.equal((await again).getString(39), '00', 'below its share again, beta is served');
  t.same(
    quotas.snapshot().find((s) => s.psp === 'psp-beta'),
    { psp: 'psp-beta', connections: 1, inFlight: 0, maxConnections: 1, maxInFlight: 2 },
  );
  await b1.close();
  await eventually(() => quotas.connections('psp-beta') === 0, "beta's connection released at close");
  const accepted = nextEvent<PspServerEvents['connection'][0]>(two, 'connection');
  await connect(t, two.port, beta);
  t.equal((await accepted).psp, 'psp-beta', 'once its connection closed, beta may connect again, on the other server');
  t.equal(two.stats.pspConnectionsRefused, 1, 'and is not refused');
});
