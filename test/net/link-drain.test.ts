/**
 * The link's drain signal (docs/network.md, "Acquirer link"): request() still fails fast when the link is full,
 * and a link that was full says so (`needDrain`) until it has room again, when 'drain' fires once.
 */
import t from 'tap';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage, responseMti } from '../../src/iso8583/message.js';
import { AcquirerLink, type AcquirerLinkOptions } from '../../src/net/index.js';
import { createFramer, encodeFrame, Reassembler } from '../../src/wire/index.js';
import { authRequest, settle, stanOf, waitFor } from '../helpers/net.js';

const codec = loadDialect('iso87-binary');
const framer = createFramer();
type Tap = { teardown(fn: () => unknown): void };

const answer = (m: IsoMessage): IsoMessage => {
  const r = new IsoMessage(responseMti(m.mti));
  for (const f of [7, 11, 41, 70]) {
    const v = m.get(f);
    if (v !== undefined) r.set(f, v);
  }
  return r.set(39, '00');
};

/** An acquirer that holds its answers until `release()` (or answers at once with `hold: false`). */
async function acquirer(t: Tap, o: { hold: boolean; read?: boolean }): Promise<{ port: number; release(): void; held: number; sockets: Socket[] }> {
  const queue: (() => void)[] = [];
  const sockets: Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    sock.on('error', () => undefined);
    if (o.read === false) sock.pause();
    const r = new Reassembler(framer, {
      onFrame: (p) => {
        const m = codec.unpack(p);
        const send = (): void => void sock.write(encodeFrame(framer, codec.pack(answer(m))));
        if (o.hold) queue.push(send);
        else send();
      },
    });
    sock.on('data', (c: Buffer) => r.push(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    release: () => queue.splice(0).forEach((f) => f()),
    get held() {
      return queue.length;
    },
    sockets,
  };
}

function makeLink(t: Tap, port: number, o: Partial<AcquirerLinkOptions> = {}): AcquirerLink {
  const link = new AcquirerLink({
    name: 'drain',
    host: '127.0.0.1',
    port,
    codec,
    framer,
    connections: 1,
    signOn: false,
    echoIdleMs: 0,
    readTimeoutMs: 0,
    defaultTimeoutMs: 20_000,
    ...o,
  });
  t.teardown(() => link.close());
  return link;
}

t.test('full at the in-flight cap: refused fast, needDrain, then one drain when answers return', async (t) => {
  const acq = await acquirer(t, { hold: true });
  const link = makeLink(t, acq.port, { maxInFlight: 3 });
  let drains = 0;
  link.on('drain', () => drains++);
  link.start();
  await link.waitReady(1);
  t.equal(link.isFull, false);
  t.equal(link.needDrain, false);
  const inFlight = [1, 2, 3].map((i) => link.request(authRequest(stanOf(i))));
  t.equal(link.isFull, true, 'the third request filled the link');
  t.equal(link.needDrain, true, 'the request that fills it sets needDrain');
  const refused = await settle(link.request(authRequest(stanOf(4))));
  t.equal(refused.ok ? 'ok' : refused.error.code, 'SW_ERR_LINK_INFLIGHT_LIMIT', 'still fails fast while full');
  await waitFor(() => acq.held === 3, 20_000, 'three requests at the acquirer');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(drains, 0, 'no drain while full');
  const drained = new Promise<{ link: string; inFlight: number }>((r) => link.once('drain', r));
  acq.release();
  const ev = await drained;
  t.equal(ev.link, 'drain');
  t.ok(ev.inFlight < 3, 'room again when drain fires');
  await Promise.all(inFlight);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(drains, 1, 'exactly one drain for one full spell, though three answers came back');
  t.equal(link.needDrain, false);
  t.equal(link.isFull, false);

  // a second spell gets its own drain
  const again = [5, 6, 7].map((i) => link.request(authRequest(stanOf(i))));
  t.equal(link.needDrain, true);
  await waitFor(() => acq.held === 3, 20_000, 'three more at the acquirer');
  acq.release();
  await Promise.all(again);
  await waitFor(() => drains === 2, 20_000, 'second drain');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(drains, 2);
});

t.test('never full: no drain, however much traffic', async (t) => {
  const acq = await acquirer(t, { hold: false });
  const link = makeLink(t, acq.port, { maxInFlight: 100 });
  let drains = 0;
  link.on('drain', () => drains++);
  link.start();
  await link.waitReady(1);
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => link.request(authRequest(stanOf(round * 50 + i + 1)))));
    t.equal(link.needDrain, false, `round ${round}`);
  }
  await new Promise((r) => setTimeout(r, 100));
  t.equal(drains, 0, 'no drain when the link was never full');
});

t.test('full by backpressure (unsent bytes over the cap): refused fast, then one drain once the bytes are out', async (t) => {
  const acq = await acquirer(t, { hold: false });
  const link = makeLink(t, acq.port, { maxInFlight: 1000, maxBufferedBytes: 64 });
  let drains = 0;
  link.on('drain', () => drains++);
  link.start();
  await link.waitReady(1);
  // a request of more than 64 bytes sits in the writer until the end of this turn: the only connection is full
  const first = link.request(authRequest(stanOf(1)));
  t.equal(link.isFull, true);
  t.equal(link.needDrain, true);
  const refused = await settle(link.request(authRequest(stanOf(2))));
  t.equal(refused.ok ? 'ok' : refused.error.code, 'SW_ERR_LINK_BACKPRESSURE');
  await waitFor(() => drains === 1, 20_000, 'drain once the bytes left');
  t.equal(link.isFull, false);
  await first;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(drains, 1, 'exactly once');
});

t.test('closed while full: no drain; needDrain cleared', async (t) => {
  const acq = await acquirer(t, { hold: true });
  const link = makeLink(t, acq.port, { maxInFlight: 1 });
  let drains = 0;
  link.on('drain', () => drains++);
  link.start();
  await link.waitReady(1);
  const p = settle(link.request(authRequest(stanOf(1))));
  t.equal(link.needDrain, true);
  await link.close();
  t.equal((await p).ok, false);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(drains, 0);
  t.equal(link.needDrain, false);
  t.equal(link.isFull, false);
});
