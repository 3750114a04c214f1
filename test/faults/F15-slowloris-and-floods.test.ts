/**
 * F15 (docs/faults.md): slow-loris peers and floods against the PSP listener, on real sockets.
 * - The idle timer counts complete frames, not bytes: a peer dribbling a frame that never completes is cut off
 *   after the idle timeout like a silent one, while a peer sending keep-alives stays.
 * - TLS handshakes under way count toward the connection cap: a flood of TCP connections that never finish
 *   their handshake cannot keep a real PSP out beyond the cap, and is dropped at the handshake timeout.
 * - A cap on requests in flight across all connections refuses fast (91, at once) with a metric.
 */
import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage, responseMti } from '../../src/iso8583/message.js';
import { startPspServer, type PspHandler, type PspServerOptions } from '../../src/net/index.js';
import { createFramer, keepAliveFrame } from '../../src/wire/index.js';
import { bindPspServerMetrics, registry } from '../../src/metrics/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { authRequest, stanOf, waitFor } from '../helpers/net.js';
import { until } from '../helpers/wait.js';

const codec = loadDialect('iso87-ascii-bbitmap');
const framer = createFramer();
const fixtures = new URL('../net/fixtures/', import.meta.url);

/** A handler answering 00, once `gate` (if given) has resolved: the test decides when the requests in flight end. */
const answer =
  (gate?: Promise<unknown>): PspHandler =>
  async (m) => {
    if (gate) await gate;
    return new IsoMessage(responseMti(m.mti), { 11: m.getString(11)!, 37: m.getString(37)!, 41: m.getString(41)!, 39: '00' });
  };

async function server(t: { teardown(f: () => unknown): void }, o: Partial<PspServerOptions>) {
  const s = await startPspServer({ codec, framer, handler: answer(), ...o });
  t.teardown(() => s.close());
  return s;
}

function rawSocket(t: { teardown(f: () => unknown): void }, port: number) {
  const sock = net.connect({ port, host: '127.0.0.1' });
  let closed = false;
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  t.teardown(() => sock.destroy());
  return { sock, closed: () => closed, connected: new Promise((r) => sock.once('connect', r)) };
}

t.test('slow loris: bytes that never make a frame do not keep a connection open', async (t) => {
  const s = await server(t, { idleTimeoutMs: 600 });
  const beforeConnect = Date.now(); // the idle timer starts after this
  const loris = rawSocket(t, s.port);
  const alive = rawSocket(t, s.port);
  await Promise.all([loris.connected, alive.connected]);
  const frame = Buffer.concat([Buffer.from([0x00, 0x40]), Buffer.from('0100')]); // a 64-byte frame, 4 bytes of it
  loris.sock.write(frame.subarray(0, 2));
  let i = 2;
  const drip = setInterval(() => {
    if (i < frame.length) loris.sock.write(frame.subarray(i, ++i));
    else loris.sock.write(Buffer.from('0'));
    alive.sock.write(keepAliveFrame(framer));
  }, 100);
  t.teardown(() => clearInterval(drip));
  const cut = await until(
    () => loris.closed(),
    (c) => c,
    10_000,
    10,
  );
  const openFor = Date.now() - beforeConnect;
  t.ok(cut, `a byte every 100 ms did not keep it open past the 600 ms idle timeout (cut after ${openFor} ms)`);
  t.ok(openFor >= 590, 'and it was the idle timeout that cut it, not something sooner (a loaded machine is only later)');
  t.notOk(alive.closed(), 'a peer sending keep-alive frames stays');
  t.equal(s.stats.idleTimeouts, 1);
  clearInterval(drip);
});

t.test('TLS handshakes count toward the connection cap, and time out', async (t) => {
  const cert = readFileSync(new URL('test-cert.pem', fixtures));
  const key = readFileSync(new URL('test-key.pem', fixtures));
  const s = await server(t, { tls: { cert, key }, maxConnections: 5, handshakeTimeoutMs: 800 });
  // five TCP connections that never say a word of TLS
  const flood = Array.from({ length: 5 }, () => rawSocket(t, s.port));
  await Promise.all(flood.map((f) => f.connected));
  // the server has counted all five (the TCP connections under a TLS listener it holds against the cap)
  const tcpOpen = () => (s as unknown as { tcpOpen: number }).tcpOpen;
  await waitFor(() => tcpOpen() === 5, 10_000, 'the five handshakes counted by the server');
  const refused = rawSocket(t, s.port);
  await refused.connected;
  await waitFor(() => refused.closed(), 5_000, 'the sixth refused while five handshakes are under way');
  t.ok(s.stats.connectionsRefused >= 1, 'counted as refused');
  await waitFor(() => flood.every((f) => f.closed()), 10_000, 'the silent handshakes dropped at the timeout');
  const c = await PspClient.connect({ port: s.port, codec, framer, tls: { ca: cert, servername: 'localhost' } });
  t.teardown(() => c.close());
  t.equal((await c.send(authRequest(stanOf(1)))).getString(39), '00', 'a real PSP gets in once they are gone');
});

t.test('requests in flight across connections: beyond the cap, 91 at once, with a metric', async (t) => {
  // the ten in flight are held until the test lets them go: "at once" means before that, whatever the machine's speed
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  const s = await server(t, { handler: answer(gate), maxInFlight: 10, maxInFlightPerConnection: 100 });
  const unbind = bindPspServerMetrics(s);
  t.teardown(unbind);
  const metric = async () => {
    const text = await registry.getSingleMetricAsString('switch_psp_limit_hits_total');
    const m = new RegExp(`switch_psp_limit_hits_total\\{psp="${s.options.psp}",kind="inflight-total"\\} (\\d+)`).exec(text);
    return Number(m?.[1] ?? 0);
  };
  const before = await metric();
  const clients = await Promise.all([1, 2, 3].map(() => PspClient.connect({ port: s.port, codec, framer })));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const slow = Array.from({ length: 10 }, (_, i) => clients[i % 3]!.send(authRequest(stanOf(100 + i))));
  await waitFor(() => s.stats.inFlight === 10, 10_000, 'ten in flight');
  let slowAnswered = 0;
  for (const p of slow)
    void p.then(
      () => slowAnswered++,
      () => undefined,
    );
  const over = await Promise.all([clients[0]!.send(authRequest(stanOf(200))), clients[2]!.send(authRequest(stanOf(201)))]);
  t.same(
    over.map((r) => r.getString(39)),
    ['91', '91'],
    'refused',
  );
  t.equal(slowAnswered, 0, 'at once: answered while the ten in flight are still held, not after them');
  t.equal(s.stats.inFlight, 10, 'the ten are still in flight');
  release();
  t.same(
    (await Promise.all(slow)).map((r) => r.getString(39)),
    Array(10).fill('00'),
    'the ten in flight are answered',
  );
  t.equal(s.stats.inFlightRefused, 2);
  t.equal((await metric()) - before, 2, 'switch_psp_limit_hits_total{kind="inflight-total"} counted them');
});
