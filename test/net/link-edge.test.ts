/**
 * Link behaviours the simulator cannot provoke: acquirer-originated messages, unsolicited responses, refused
 * sign-on, custom match keys, TLS, pack failures, backpressure, bad frames from the acquirer.
 */
import t from 'tap';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage, responseMti } from '../../src/iso8583/message.js';
import { AcquirerLink, startPspServer, type AcquirerLinkOptions, type UnmatchedInfo } from '../../src/net/index.js';
import { createFramer, encodeFrame, Reassembler } from '../../src/wire/index.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { authRequest, nextEvent, settle, stanOf, waitFor } from '../helpers/net.js';

const codec = loadDialect('iso87-binary');
const framer = createFramer();
type Tap = { teardown(fn: () => unknown): void };

/** A scripted acquirer: calls `onMessage` for every message; `send` writes to that connection. */
async function scriptedAcquirer(
  t: Tap,
  onMessage: (msg: IsoMessage, send: (m: IsoMessage) => void, sock: Socket) => void,
): Promise<{ port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    sock.on('error', () => undefined);
    const send = (m: IsoMessage): void => void sock.write(encodeFrame(framer, codec.pack(m)));
    const r = new Reassembler(framer, { onFrame: (p) => onMessage(codec.unpack(p), send, sock) });
    sock.on('data', (c: Buffer) => r.push(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, sockets };
}

const answer = (m: IsoMessage, rc = '00'): IsoMessage => {
  const r = new IsoMessage(responseMti(m.mti));
  for (const f of [7, 11, 41, 70]) {
    const v = m.get(f);
    if (v !== undefined) r.set(f, v);
  }
  return r.set(39, rc);
};

function makeLink(t: Tap, port: number, o: Partial<AcquirerLinkOptions> = {}): AcquirerLink {
  const link = new AcquirerLink({ name: 'edge', host: '127.0.0.1', port, codec, framer, connections: 1, reconnect: { initialMs: 20, maxMs: 100 }, ...o });
  t.teardown(() => link.close());
  return link;
}

t.test('acquirer-originated 0800 is answered; other inbound requests and unknown responses go to onUnmatched', async (t) => {
  const got: IsoMessage[] = [];
  const acq = await scriptedAcquirer(t, (m, send) => {
    got.push(m);
    if (m.mti === '0800' && m.getString(70) === '001') {
      send(answer(m));
      // then the acquirer talks first
      send(new IsoMessage('0800', { 7: '1122120000', 11: '424242', 70: '301' }));
      send(new IsoMessage('0110', { 11: '999999', 41: 'NOBODY01', 39: '00' }));
      send(new IsoMessage('0620', { 11: '000555', 41: 'TERM0001' }));
    }
  });
  const link = makeLink(t, acq.port);
  const unmatched: { msg: IsoMessage; info: UnmatchedInfo }[] = [];
  link.onUnmatched((msg, info) => unmatched.push({ msg, info }));
  link.start();
  await link.waitReady(1);
  await waitFor(() => got.some((m) => m.mti === '0810') && unmatched.length === 2, 20_000, 'answers');
  const echoAnswer = got.find((m) => m.mti === '0810')!;
  t.same([echoAnswer.getString(11), echoAnswer.getString(39), echoAnswer.getString(70)], ['424242', '00', '301']);
  t.same(unmatched.map((u) => [u.msg.mti, u.info.reason]).sort(), [
    ['0110', 'unknown'],
    ['0620', 'inbound-request'],
  ]);
  t.equal(link.stats.unmatched, 2);
});

t.test('a refused sign-on keeps the connection out of the pool and is a failure', async (t) => {
  let refuse = true;
  const acq = await scriptedAcquirer(t, (m, send) => {
    if (m.mti === '0800') send(answer(m, refuse ? '91' : '00'));
  });
  const link = makeLink(t, acq.port);
  const failed = nextEvent<{ reason: string; code?: string }>(link, 'failed', 20_000, (e) => e.reason === 'sign-on-refused');
  link.start();
  const f = await failed;
  t.equal(f.code, 'SW_ERR_LINK_SIGN_ON_FAILED');
  t.equal(link.readyCount, 0);
  const r = await settle(link.request(authRequest('000001')));
  t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_NOT_READY');
  refuse = false;
  await link.waitReady(1, 20_000);
});

t.test('signOn: false makes a connection ready without any 0800', async (t) => {
  const got: IsoMessage[] = [];
  const acq = await scriptedAcquirer(t, (m, send) => {
    got.push(m);
    send(answer(m));
  });
  const link = makeLink(t, acq.port, { signOn: false });
  link.start();
  await link.waitReady(1);
  t.equal((await link.request(authRequest('000001'))).getString(39), '00');
  t.same(
    got.map((m) => m.mti),
    ['0100'],
  );
});

t.test('custom match keys: by data and by function; a message without any key field is refused', async (t) => {
  // this acquirer rewrites DE41 in its answers: only a STAN-only key can match them
  const acq = await scriptedAcquirer(t, (m, send) => send(answer(m).set(41, 'REWRITTN')));
  const link = makeLink(t, acq.port, { matchKey: { fields: [11] } });
  link.start();
  await link.waitReady(1);
  t.equal((await link.request(authRequest('000001'))).getString(41), 'REWRITTN');
  const noKey = await settle(link.request(new IsoMessage('0100', { 3: '000000' })));
  t.equal(noKey.ok ? 'ok' : noKey.error.code, 'SW_ERR_LINK_MISSING_KEY_FIELD');

  const link2 = makeLink(t, acq.port, { matchKey: (m) => `${responseMti(m.mti)}:${String(m.get(11))}` });
  link2.start();
  await link2.waitReady(1);
  t.equal((await link2.request(authRequest('000002'))).getString(11), '000002');
});

t.test('a request that cannot be packed fails fast with a typed error and no card data', async (t) => {
  const acq = await scriptedAcquirer(t, (m, send) => send(answer(m)));
  const link = makeLink(t, acq.port);
  link.start();
  await link.waitReady(1);
  const r = await settle(link.request(authRequest('000001', { amount: 'ABCDEFGHIJKL' })));
  t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_PACK_FAILED');
  if (!r.ok) t.notMatch(r.error.message, /4111111111111111|ABCDEFGHIJKL/);
  t.equal(link.inFlight, 0);
});

t.test('a frame over the cap from the acquirer fails the connection; the link reconnects', async (t) => {
  let first = true;
  const acq = await scriptedAcquirer(t, (m, send, sock) => {
    if (m.mti === '0800') return send(answer(m));
    if (first) {
      first = false;
      sock.write(Buffer.from([0xff, 0xff]));
    } else send(answer(m));
  });
  const link = makeLink(t, acq.port, { maxFrameBytes: 4096 });
  link.start();
  await link.waitReady(1);
  const failed = nextEvent<{ reason: string; code?: string }>(link, 'failed', 20_000, (e) => e.reason === 'frame-error');
  const r = await settle(link.request(authRequest('000001')));
  t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_CONNECTION_LOST');
  t.equal((await failed).code, 'SW_ERR_FRAME_TOO_LARGE');
  await link.waitReady(1, 20_000);
  t.equal((await link.request(authRequest('000002'))).getString(39), '00');
});

t.test('backpressure: a connection with too much unsent data takes no more requests', async (t) => {
  const sim = await startAcquirerSimulator({ codec, framer, control: false, journal: false });
  t.teardown(() => sim.close());
  const link = makeLink(t, sim.port, { maxBufferedBytes: 64 * 1024, maxInFlight: 1_000_000, defaultTimeoutMs: 120_000 });
  link.start();
  await link.waitReady(1);
  sim.setBehaviour({ faults: { acceptNoRead: true } });
  const pending: Promise<unknown>[] = [];
  let code: string | undefined;
  let n = 0;
  while (code === undefined && n < 2_000_000) {
    for (let i = 0; i < 1000 && code === undefined; i++) {
      const p = link.request(authRequest(stanOf((n % 999_999) + 1), { terminal: `T${String(Math.floor(n / 999_999)).padStart(7, '0')}` }));
      n++;
      const s = settle(p);
      pending.push(s);
      void s.then((r) => {
        if (!r.ok && r.error.code !== 'SW_ERR_LINK_CLOSED' && code === undefined) code = r.error.code;
      });
    }
    await new Promise((r) => setImmediate(r));
  }
  t.equal(code, 'SW_ERR_LINK_BACKPRESSURE', `refused after ${n} requests`);
  t.ok(link.stats.rejectedBackpressure >= 1);
  await link.close();
  await Promise.all(pending);
});

t.test('sign-off on close, then "closed"', async (t) => {
  const sim = await startAcquirerSimulator({ codec, framer, control: false });
  t.teardown(() => sim.close());
  const link = makeLink(t, sim.port);
  link.start();
  await link.waitReady(1);
  const closed = nextEvent(link, 'closed');
  await link.close({ signOff: true });
  await closed;
  t.equal(sim.journal.find({ direction: 'in', mti: '0800' }).filter((e) => e.networkCode === '002').length, 1);
});

t.test('TLS link to a TLS host', async (t) => {
  const dir = new URL('./fixtures/', import.meta.url);
  const cert = readFileSync(new URL('test-cert.pem', dir));
  const key = readFileSync(new URL('test-key.pem', dir));
  const host = await startPspServer({ codec, framer, tls: { cert, key }, handler: async (m) => answer(m) });
  t.teardown(() => host.close());
  const link = makeLink(t, host.port, { tls: { ca: cert, servername: 'localhost' } });
  link.start();
  await link.waitReady(1);
  t.equal((await link.request(authRequest('000001'))).getString(39), '00');
  t.equal(host.stats.framesIn, 2, 'sign-on and the request went over TLS');
});
