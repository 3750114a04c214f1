/**
 * The acquirer link over TLS (docs/network.md, "Acquirer link TLS") against the acquirer simulator serving TLS,
 * with certificates the openssl CLI makes for this run: TLS 1.2 and 1.3 carry an authorization; an untrusted
 * chain, a wrong name, a TLS 1.1-only host and a pin mismatch are refused, each with its code on 'failed' and
 * retried with back-off; a client certificate is presented when the host asks; DE2 never crosses the wire in clear.
 */
import t, { type Test } from 'tap';
import tls from 'node:tls';
import { loadDialect } from '../../src/iso8583/index.js';
import { AcquirerLink, type AcquirerLinkOptions, type LinkEvents, type LinkTlsOptions } from '../../src/net/index.js';
import type { NetLogger } from '../../src/net/logger.js';
import { createFramer } from '../../src/wire/index.js';
import { startAcquirerSimulator, type AcquirerSimulator, type SimulatorTlsOptions } from '../../simulators/acquirer/index.js';
import { authRequest, nextEvent, settle, stanOf } from '../helpers/net.js';
import { makeTestPki } from '../helpers/pki.js';
import { eventually } from '../helpers/wait.js';
import { captureRelay } from '../helpers/proxy.js';

// iso87-ascii: DE2 is the PAN's ASCII digits on the wire, so a capture can be searched for it
const codec = loadDialect('iso87-ascii');
const framer = createFramer();
const PAN = '4111110000123456';
type Tap = { teardown(fn: () => unknown): void };
type Failed = LinkEvents['failed'][0];

const pki = makeTestPki(t);
const ca = pki.read(pki.ca.cert);

async function tlsSim(t: Tap, tlsOpts: Partial<SimulatorTlsOptions> = {}): Promise<AcquirerSimulator> {
  const sim = await startAcquirerSimulator({
    dialect: 'iso87-ascii',
    framer,
    control: false,
    seed: 17,
    tls: { cert: pki.read(pki.server.cert), key: pki.read(pki.server.key), ...tlsOpts },
  });
  t.teardown(() => sim.close());
  return sim;
}

interface LogLine {
  level: string;
  obj: object;
  msg: string | undefined;
}

function capturingLogger(): { logger: NetLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void lines.push({ level, obj, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

function makeLink(t: Tap, port: number, tlsOpts: LinkTlsOptions | undefined, o: Partial<AcquirerLinkOptions> = {}): AcquirerLink {
  const link = new AcquirerLink({
    name: 'acq-tls',
    host: '127.0.0.1',
    port,
    codec,
    framer,
    connections: 1,
    connectTimeoutMs: 10_000,
    // no jitter: the delays between attempts are exactly 50, 100, 200, … ms, so the back-off can be asserted
    reconnect: { initialMs: 50, maxMs: 2000, factor: 2, jitter: 0 },
    ...(tlsOpts ? { tls: tlsOpts } : {}),
    ...o,
  });
  t.teardown(() => link.close());
  return link;
}

const trusted = (o: LinkTlsOptions = {}): LinkTlsOptions => ({ ca, servername: pki.serverName, ...o });

/** The first `n` 'failed' events of a link (connect attempts that failed), collected from its start. */
async function failures(link: AcquirerLink, n: number): Promise<Failed[]> {
  const seen: Failed[] = [];
  link.on('failed', (e) => seen.push(e));
  link.start();
  await eventually(() => seen.length >= n, `${n} failed connection attempts`);
  return seen.slice(0, n);
}

/** A refusal: every attempt failed with `code`, the reason matching `reason`, retried with doubling delays. */
function assertRefused(t: Test, seen: Failed[], code: string, reason: RegExp): void {
  for (const f of seen) {
    t.equal(f.code, code, `failed with ${code}`);
    t.match(f.reason, reason, `reason ${f.reason}`);
  }
  t.same(
    seen.map((f) => f.retryInMs),
    seen.map((_f, i) => 50 * 2 ** i),
    'each retry waits twice as long as the one before (a bad certificate does not spin)',
  );
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  t.test(`${version}: sign-on and an authorization over a verified link`, async (t) => {
    const sim = await tlsSim(t, { minVersion: version, maxVersion: version });
    const link = makeLink(t, sim.port, trusted());
    const connected = nextEvent<LinkEvents['connected'][0]>(link, 'connected');
    link.start();
    await link.waitReady(1, 20_000);
    t.equal((await connected).tlsProtocol, version, `the link negotiated ${version}`);
    const answer = await link.request(authRequest(stanOf(1), { pan: PAN }), { timeoutMs: 10_000 });
    t.equal(answer.getString(39), '00', 'approved');
    t.equal(answer.getString(11), stanOf(1), 'the answer to this request');
    t.same(sim.stats.tlsVersions, { [version]: 1 }, `the simulator saw one ${version} handshake`);
    t.equal(sim.journal.find({ direction: 'in', mti: '0100' }).length, 1, 'the simulator read the 0100 through TLS');
    t.equal(link.stats.tlsFailures, 0);
    // pipelined as over TCP: many in flight on the one connection, answered in any order, each matched
    const many = await Promise.all(Array.from({ length: 50 }, (_v, i) => link.request(authRequest(stanOf(100 + i), { pan: PAN }), { timeoutMs: 10_000 })));
    t.same(
      many.map((m) => m.getString(11)),
      Array.from({ length: 50 }, (_v, i) => stanOf(100 + i)),
      '50 requests in flight at once, each answered',
    );
    t.equal(sim.stats.connectionsAccepted, 1, 'over one connection');
  });
}

t.test('an untrusted certificate is refused, retried with back-off, and logged without secrets', async (t) => {
  const sim = await tlsSim(t, { cert: pki.read(pki.otherServer.cert), key: pki.read(pki.otherServer.key) });
  const log = capturingLogger();
  // the client certificate is configured too, so the log check below has a private key that must not show
  const link = makeLink(t, sim.port, trusted({ cert: pki.read(pki.client.cert), key: pki.read(pki.client.key) }), { logger: log.logger });
  const seen = await failures(link, 3);
  assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
  t.equal(link.readyCount, 0, 'never ready');
  t.equal(sim.stats.tlsHandshakes, 0, 'no handshake completed at the host');
  t.equal(sim.stats.received, 0, 'nothing was sent');
  t.ok(link.stats.tlsFailures >= 3, 'counted as TLS failures');
  const warn = log.lines.find((l) => l.msg === 'acquirer TLS handshake failed');
  t.ok(warn, 'the failure is logged');
  t.match(warn?.obj, { link: 'acq-tls', code: 'SW_ERR_LINK_TLS_HANDSHAKE', reason: seen[0]!.reason }, 'with its code and reason');
  const text = JSON.stringify(log.lines);
  const keyBody = pki.read(pki.client.key).toString('utf8').split('\n')[1]!;
  t.ok(keyBody.length > 20, 'a line of the key to look for');
  t.notOk(text.includes(keyBody), 'no key material in the log');
  t.notOk(text.includes('-----BEGIN'), 'no PEM in the log');
});

t.test('without a ca the built-in root store is used, and a private CA is not in it', async (t) => {
  const sim = await tlsSim(t);
  const link = makeLink(t, sim.port, { servername: pki.serverName });
  const seen = await failures(link, 2);
  assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
});

t.test('a certificate for another name is refused', async (t) => {
  const sim = await tlsSim(t);
  const link = makeLink(t, sim.port, trusted({ servername: 'wrong.test' }));
  const seen = await failures(link, 2);
  assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /^ERR_TLS_CERT_ALTNAME_INVALID$/);
  t.equal(sim.stats.received, 0, 'nothing was sent');
});

t.test('a TLS 1.1-only host is refused because of its version', async (t) => {
  const sim = await tlsSim(t, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
  // the host does speak TLS 1.1 with this certificate: a client that allows 1.1 gets through
  const old = await new Promise<string | null>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: sim.port, ca, servername: pki.serverName, minVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
      const p = s.getProtocol();
      s.destroy();
      resolve(p);
    });
    s.once('error', reject);
  });
  t.equal(old, 'TLSv1.1', 'the host completes a TLS 1.1 handshake with a client that allows it');
  const handshakesBefore = sim.stats.tlsHandshakes;
  const link = makeLink(t, sim.port, trusted());
  const seen = await failures(link, 2);
  assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
  t.equal(sim.stats.tlsHandshakes, handshakesBefore, 'no handshake completed with the link');
  t.ok(sim.stats.tlsErrors >= 2, 'the host saw the handshakes fail');
});

t.test('a link asking for less than TLS 1.2 is refused when built', async (t) => {
  for (const [tlsOpts, path] of [
    [{ minVersion: 'TLSv1.1' }, 'tls.minVersion'],
    [{ minVersion: 'TLSv1' }, 'tls.minVersion'],
    [{ maxVersion: 'TLSv1.1' }, 'tls.maxVersion'],
    [{ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }, 'tls.maxVersion'],
    [{ secureProtocol: 'TLSv1_1_method' }, 'tls.secureProtocol'],
    [{ rejectUnauthorized: false }, 'tls.rejectUnauthorized'],
  ] as const) {
    const built = await settle(Promise.resolve().then(() => new AcquirerLink({ name: 'acq-tls', host: '127.0.0.1', port: 1, codec, tls: { ca, ...tlsOpts } })));
    t.equal(built.ok ? 'built' : built.error.code, 'SW_ERR_LINK_TLS_CONFIG', `${JSON.stringify(tlsOpts)} refused`);
    if (!built.ok) t.match(built.error.message, `at ${path}:`, `naming ${path}`);
  }
});

t.test('pins: a matching SPKI pin connects, a mismatch is refused before anything is sent', async (t) => {
  const leafPin = pki.pinOf(pki.server.key);
  const caPin = pki.pinOf(pki.ca.key);
  const otherPin = pki.pinOf(pki.otherCa.key);
  t.not(leafPin, caPin, 'the pins differ');

  await t.test('the leaf key pinned', async (t) => {
    const sim = await tlsSim(t);
    const link = makeLink(t, sim.port, trusted({ pins: [leafPin] })).start();
    await link.waitReady(1, 20_000);
    t.equal((await link.request(authRequest(stanOf(2), { pan: PAN }), { timeoutMs: 10_000 })).getString(39), '00');
  });

  await t.test("the CA's key pinned, in a list with a pin that matches nothing", async (t) => {
    const sim = await tlsSim(t);
    const link = makeLink(t, sim.port, trusted({ pins: [otherPin, caPin] })).start();
    await link.waitReady(1, 20_000);
    t.equal((await link.request(authRequest(stanOf(3), { pan: PAN }), { timeoutMs: 10_000 })).getString(39), '00');
  });

  await t.test('no key of the chain pinned', async (t) => {
    const sim = await tlsSim(t);
    const log = capturingLogger();
    const link = makeLink(t, sim.port, trusted({ pins: [otherPin] }), { logger: log.logger });
    let connected = 0;
    link.on('connected', () => connected++);
    const seen = await failures(link, 2);
    // (the chain itself is valid: the same host, CA and name connect above when a key of it is pinned)
    assertRefused(t, seen, 'SW_ERR_LINK_TLS_PIN_MISMATCH', /^pin-mismatch$/);
    t.equal(connected, 0, 'no connection was made of it');
    t.equal(sim.stats.received, 0, 'not even the sign-on was sent');
    t.equal(link.readyCount, 0);
    const warn = log.lines.find((l) => l.msg === 'acquirer TLS handshake failed');
    // the leaf pin the link computed (node:crypto) is the one openssl computed from the key file
    t.match(warn?.obj, {
      code: 'SW_ERR_LINK_TLS_PIN_MISMATCH',
      message: `link acq-tls: no key of the certificate chain of 127.0.0.1:${sim.port} is pinned (its leaf key is ${leafPin})`,
    });
  });

  await t.test('a malformed pin is refused when the link is built', async (t) => {
    for (const bad of ['sha256/short', `sha1/${leafPin.slice(7)}`, leafPin.slice(7)]) {
      const built = await settle(
        Promise.resolve().then(() => new AcquirerLink({ name: 'acq-tls', host: '127.0.0.1', port: 1, codec, tls: trusted({ pins: [bad] }) })),
      );
      t.equal(built.ok ? 'built' : built.error.code, 'SW_ERR_LINK_TLS_CONFIG', `${bad} refused`);
    }
  });
});

t.test('client certificates: presented when the host requires one, refused without', async (t) => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    await t.test(`${version}: presented`, async (t) => {
      const sim = await tlsSim(t, { requestCert: true, ca, minVersion: version, maxVersion: version });
      const link = makeLink(t, sim.port, trusted({ cert: pki.read(pki.client.cert), key: pki.read(pki.client.key) })).start();
      await link.waitReady(1, 20_000);
      t.equal((await link.request(authRequest(stanOf(4), { pan: PAN }), { timeoutMs: 10_000 })).getString(39), '00');
      t.equal(sim.stats.tlsClientCerts, 1, 'the host verified the client certificate');
    });

    await t.test(`${version}: not presented`, async (t) => {
      const sim = await tlsSim(t, { requestCert: true, ca, minVersion: version, maxVersion: version });
      const link = makeLink(t, sim.port, trusted());
      // TLS 1.2 fails in the handshake; TLS 1.3 finishes the client's side first and the host's alert follows
      const seen = await failures(link, 3);
      assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /^ERR_SSL_/);
      t.equal(link.readyCount, 0, 'never ready');
      t.equal(sim.stats.tlsClientCerts, 0);
      t.equal(sim.stats.received, 0, 'the host read nothing from it');
    });
  }

  await t.test('a certificate of another CA is not accepted either', async (t) => {
    const sim = await tlsSim(t, { requestCert: true, ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    // the other server's certificate (serverAuth only, another CA) as a client certificate
    const link = makeLink(t, sim.port, trusted({ cert: pki.read(pki.otherServer.cert), key: pki.read(pki.otherServer.key) }));
    const seen = await failures(link, 2);
    // the host's alert (unknown CA), or its reset when it closes before the link has read the alert
    assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /^(ERR_SSL_\w+|ECONNRESET)$/);
    t.equal(sim.stats.tlsClientCerts, 0);
    t.equal(sim.stats.received, 0);
  });
});

t.test('DE2 does not cross the wire in clear', async (t) => {
  const pan = Buffer.from(PAN, 'ascii');

  await t.test('plain TCP (the capture finds the PAN when it is there)', async (t) => {
    const sim = await startAcquirerSimulator({ dialect: 'iso87-ascii', framer, control: false, seed: 5 });
    t.teardown(() => sim.close());
    const relay = await captureRelay(t, sim.port);
    const link = makeLink(t, relay.port, undefined).start();
    await link.waitReady(1, 20_000);
    t.equal((await link.request(authRequest(stanOf(5), { pan: PAN }), { timeoutMs: 10_000 })).getString(39), '00');
    await eventually(() => relay.bytes().includes(pan), 'the PAN in the plain capture');
    t.ok(relay.bytes().includes(pan), 'in clear without TLS');
  });

  await t.test('TLS', async (t) => {
    const sim = await tlsSim(t);
    const relay = await captureRelay(t, sim.port);
    const link = makeLink(t, relay.port, trusted()).start();
    await link.waitReady(1, 20_000);
    for (let i = 0; i < 5; i++) t.equal((await link.request(authRequest(stanOf(10 + i), { pan: PAN }), { timeoutMs: 10_000 })).getString(39), '00');
    t.equal(sim.journal.find({ direction: 'in', mti: '0100' }).length, 5, 'five 0100 reached the host');
    // the answers have been read by the link, so every byte of them crossed the relay already
    const wire = relay.bytes();
    t.ok(wire.length > 5 * pan.length, `${wire.length} bytes captured`);
    t.notOk(wire.includes(pan), 'the PAN is not on the wire');
    t.notOk(wire.includes(Buffer.from('TERM0001')), 'nor the terminal id (nothing of the messages is in clear)');
    t.ok(wire.includes(Buffer.from(pki.serverName)), 'the capture does hold the handshake (SNI in clear)');
  });
});

t.test('a plain-TCP host behind a TLS link: the handshake times out, as a TLS failure', async (t) => {
  const sim = await startAcquirerSimulator({ dialect: 'iso87-ascii', framer, control: false });
  t.teardown(() => sim.close());
  const link = makeLink(t, sim.port, trusted(), { connectTimeoutMs: 300 });
  const seen = await failures(link, 2);
  // (the host waits for the rest of a "frame" whose length header is the ClientHello's first bytes)
  assertRefused(t, seen, 'SW_ERR_LINK_TLS_HANDSHAKE', /^handshake timeout$/);
});
