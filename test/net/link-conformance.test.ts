/**
 * The link conformance suite: every behaviour of the acquirer link, against the acquirer simulator on real
 * sockets, in several dialect × framer combinations.
 */
import t, { type Test } from 'tap';
import { loadDialect } from '../../src/iso8583/index.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { AcquirerLink, type AcquirerLinkOptions, type UnmatchedInfo } from '../../src/net/index.js';
import { createFramer, type FramerOptions } from '../../src/wire/index.js';
import { startAcquirerSimulator, type AcquirerSimulator, type Behaviour } from '../../simulators/acquirer/index.js';
import { authRequest, nextEvent, settle, stanOf, waitFor } from '../helpers/net.js';

interface Variant {
  dialect: string;
  framer: FramerOptions;
}

const VARIANTS: Variant[] = [
  { dialect: 'iso87-binary', framer: { header: 'binary2' } },
  { dialect: 'iso87-ascii', framer: { header: 'ascii4', tpdu: true } },
  { dialect: 'iso87-ebcdic', framer: { header: 'bcd2' } },
];

for (const v of VARIANTS) {
  t.test(`link conformance: ${v.dialect} over ${createFramer(v.framer).name}`, async (t) => {
    const codec = loadDialect(v.dialect);
    const framer = createFramer(v.framer);

    async function setup(
      t: Test,
      behaviour: Partial<Behaviour> = {},
      linkOpts: Partial<AcquirerLinkOptions> = {},
    ): Promise<{ sim: AcquirerSimulator; link: AcquirerLink }> {
      const sim = await startAcquirerSimulator({ codec, framer, seed: 7, behaviour, control: false });
      const link = new AcquirerLink({
        name: 'acq',
        host: sim.host,
        port: sim.port,
        codec,
        framer,
        connections: 2,
        defaultTimeoutMs: 10_000,
        reconnect: { initialMs: 20, maxMs: 200 },
        ...linkOpts,
      });
      t.teardown(async () => {
        await link.close();
        await sim.close();
      });
      link.start();
      await link.waitReady(linkOpts.connections ?? 2, 20_000);
      return { sim, link };
    }

    t.test('signs on every connection before it is ready', async (t) => {
      const { sim, link } = await setup(t);
      t.equal(link.readyCount, 2);
      const ins = sim.journal.find({ direction: 'in' });
      t.equal(ins.length, 2);
      for (const e of ins) {
        t.equal(e.mti, '0800');
        t.equal(e.networkCode, '001');
        t.match(e.stan, /^\d{6}$/);
      }
      t.not(ins[0]!.stan, ins[1]!.stan, 'each 0800 has its own STAN');
    });

    t.test('an authorization is answered and matched; approvals carry DE38, DE39 00 and the RRN', async (t) => {
      const { link } = await setup(t);
      const sent: unknown[] = [];
      const answered: { responseCode?: string | undefined }[] = [];
      link.on('sent', (e) => sent.push(e));
      link.on('answered', (e) => answered.push(e));
      const r = await link.request(authRequest('000123'));
      t.equal(r.mti, '0110');
      t.equal(r.getString(11), '000123');
      t.equal(r.getString(41), 'TERM0001');
      t.equal(r.getString(39), '00');
      t.match(r.getString(38), /^[0-9A-Z]{6}$/);
      t.equal(r.getString(37), '000000000123');
      t.equal(sent.length, 1);
      t.equal(answered.length, 1);
      t.equal(answered[0]!.responseCode, '00');
    });

    t.test('decline rules by amount and PAN suffix', async (t) => {
      const { link } = await setup(t, {
        rules: [
          { when: { amountMin: 100000 }, respond: '51' },
          { when: { panSuffix: '0002' }, respond: '05' },
        ],
      });
      t.equal((await link.request(authRequest('000001', { amount: '000000100000' }))).getString(39), '51');
      t.equal((await link.request(authRequest('000002', { pan: '4000000000000002' }))).getString(39), '05');
      const ok = await link.request(authRequest('000003'));
      t.equal(ok.getString(39), '00');
    });

    t.test('out-of-order answers all match; 0110 and 0410 with the same STAN never cross', async (t) => {
      const { link } = await setup(t, { latency: { distribution: 'uniform', minMs: 0, maxMs: 30 } });
      const ps: Promise<IsoMessage>[] = [];
      for (let i = 1; i <= 400; i++) {
        ps.push(link.request(authRequest(stanOf(i))));
        ps.push(link.request(authRequest(stanOf(i), { mti: '0400' })));
      }
      const rs = await Promise.all(ps);
      let bad = 0;
      rs.forEach((r, j) => {
        const i = (j >> 1) + 1;
        const want = j % 2 === 0 ? '0110' : '0410';
        if (r.mti !== want || r.getString(11) !== stanOf(i)) bad++;
      });
      t.equal(bad, 0, 'every response belongs to its request');
    });

    t.test('a duplicate in-flight key is refused; the first request is unaffected', async (t) => {
      const { link } = await setup(t, { latency: { distribution: 'fixed', ms: 100 } });
      const first = link.request(authRequest('000777'));
      const dup = await settle(link.request(authRequest('000777')));
      t.equal(dup.ok, false);
      if (!dup.ok) t.equal(dup.error.code, 'SW_ERR_LINK_DUPLICATE_KEY');
      const other = await link.request(authRequest('000777', { terminal: 'TERM0002' }));
      t.equal(other.getString(41), 'TERM0002', 'same STAN on another terminal is another key');
      t.equal((await first).getString(11), '000777');
    });

    t.test('a per-request timeout fails with a typed error; the late answer goes to onUnmatched', async (t) => {
      const { link } = await setup(t, { rules: [{ when: { terminal: 'SLOWTERM' }, delayMs: 1000 }] });
      const unmatched: { msg: IsoMessage; info: UnmatchedInfo }[] = [];
      link.onUnmatched((msg, info) => unmatched.push({ msg, info }));
      const timeouts: unknown[] = [];
      link.on('timeout', (e) => timeouts.push(e));
      const r = await settle(link.request(authRequest('000042', { terminal: 'SLOWTERM' }), { timeoutMs: 50 }));
      t.equal(r.ok, false);
      if (!r.ok) {
        t.equal(r.error.code, 'SW_ERR_LINK_TIMEOUT');
        t.notMatch(r.error.message, /4111/, 'no card data in the error');
      }
      t.equal(timeouts.length, 1);
      await waitFor(() => unmatched.length === 1, 20_000, 'late answer');
      t.equal(unmatched[0]!.info.reason, 'late');
      t.equal(unmatched[0]!.msg.getString(11), '000042');
      t.equal(link.inFlight, 0);
      // the key is free again once the first request settled
      const again = await link.request(authRequest('000042'));
      t.equal(again.getString(39), '00');
    });

    t.test('the in-flight cap fails fast', async (t) => {
      const { link } = await setup(t, { rules: [{ action: 'drop' }] }, { maxInFlight: 5 });
      const held = Array.from({ length: 5 }, (_, i) => settle(link.request(authRequest(stanOf(i + 1)), { timeoutMs: 60_000 })));
      let settledEarly = false;
      const sixth = settle(link.request(authRequest('000006'))).then((r) => {
        settledEarly = true;
        return r;
      });
      const r = await sixth;
      t.ok(settledEarly);
      t.equal(r.ok, false);
      if (!r.ok) t.equal(r.error.code, 'SW_ERR_LINK_INFLIGHT_LIMIT');
      t.equal(link.inFlight, 5, 'the five held requests are still in flight');
      t.equal(link.stats.rejectedInFlightCap, 1);
      await link.close();
      for (const h of await Promise.all(held))
        t.equal(h.ok ? 'ok' : h.error.code, 'SW_ERR_LINK_CONNECTION_LOST', 'written before the close: lost, not refused');
    });

    t.test('reset: pending requests fail at once, then reconnect and sign-on before traffic', async (t) => {
      const { sim, link } = await setup(t, { rules: [{ action: 'drop' }] });
      const failed: { reason: string }[] = [];
      link.on('failed', (e) => failed.push(e));
      const pending = Array.from({ length: 10 }, (_, i) => settle(link.request(authRequest(stanOf(i + 1)), { timeoutMs: 60_000 })));
      await waitFor(() => sim.journal.count({ mti: '0100' }) === 10, 20_000, 'requests at the simulator');
      sim.setBehaviour({ rules: [] });
      sim.resetConnections();
      const results = await Promise.all(pending);
      for (const r of results) t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_CONNECTION_LOST');
      t.ok(failed.length >= 2, 'failed (not closed) events');
      await link.waitReady(2, 20_000);
      const after = await link.request(authRequest('000500'));
      t.equal(after.getString(39), '00');
      // on every connection opened after the reset, the first thing the acquirer saw was a sign-on
      const byConn = new Map<string, { mti: string | null; networkCode?: string }[]>();
      for (const e of sim.journal.find({ direction: 'in' })) {
        const l = byConn.get(e.connectionId) ?? [];
        l.push(e);
        byConn.set(e.connectionId, l);
      }
      t.ok(byConn.size >= 4, 'new connections were opened');
      for (const [id, list] of byConn) t.same([list[0]!.mti, list[0]!.networkCode], ['0800', '001'], `${id} signed on first`);
    });

    t.test('half-open: an acquirer that stops reading is detected within the read timeout', async (t) => {
      const readTimeoutMs = 1500;
      const { sim, link } = await setup(t, {}, { connections: 1, echoIdleMs: 300, readTimeoutMs, signOnTimeoutMs: 2000 });
      const failed = nextEvent<{ reason: string; code?: string; connectionId: string | null }>(link, 'failed', 30_000, (e) => e.connectionId !== null);
      const stoppedAt = Date.now();
      sim.setBehaviour({ faults: { acceptNoRead: true } });
      const f = await failed;
      t.equal(f.reason, 'half-open');
      t.equal(f.code, 'SW_ERR_LINK_HALF_OPEN');
      t.ok(link.stats.echoesSent >= 1, 'an echo was tried first');
      // bound: read timeout + one check tick (readTimeout/4) + generous scheduling slack for a busy machine
      t.ok(Date.now() - stoppedAt < readTimeoutMs + readTimeoutMs / 4 + 10_000, 'detected within the bound');
      sim.setBehaviour({ faults: { acceptNoRead: false } });
      await link.waitReady(1, 30_000);
      t.equal((await link.request(authRequest('000900'))).getString(39), '00');
    });

    t.test('an idle connection sends echoes; ignored echoes mean the connection is dead', async (t) => {
      const { sim, link } = await setup(t, {}, { connections: 1, echoIdleMs: 100, readTimeoutMs: 2500 });
      await waitFor(() => sim.journal.count({ mti: '0800', direction: 'in' }) >= 3, 20_000, 'echoes');
      const echoes = sim.journal.find({ mti: '0800', direction: 'in' }).filter((e) => e.networkCode === '301');
      t.ok(echoes.length >= 1, 'echo 0800 DE70=301 seen');
      t.ok(sim.journal.count({ mti: '0810', direction: 'out' }) >= 2, 'echoes answered');
      t.equal(link.readyCount, 1, 'answered echoes keep it alive');
      const failed = nextEvent<{ reason: string }>(link, 'failed', 30_000, (e) => e.reason === 'half-open');
      sim.setBehaviour({ faults: { ignoreEchoes: true } });
      t.equal((await failed).reason, 'half-open');
    });

    t.test('partial and merged frames from the acquirer are reassembled', async (t) => {
      const { sim, link } = await setup(t, { faults: { partialFrames: 0.5 }, latency: { distribution: 'uniform', minMs: 0, maxMs: 5 } });
      const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => link.request(authRequest(stanOf(i + 1)))));
      t.equal(rs.filter((r, i) => r.getString(11) === stanOf(i + 1)).length, 200);
      t.ok(sim.stats.partialSent > 20, 'some answers went out in pieces');
    });

    t.test('garbage frames are skipped and counted; the connection survives', async (t) => {
      const { sim, link } = await setup(t, { faults: { garbageFrames: 1 } }, { connections: 1 });
      const r = await settle(link.request(authRequest('000001'), { timeoutMs: 300 }));
      t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_TIMEOUT');
      await waitFor(() => link.stats.unpackErrors >= 1, 20_000, 'garbage seen');
      sim.setBehaviour({ faults: { garbageFrames: 0 } });
      t.equal((await link.request(authRequest('000002'))).getString(39), '00');
      t.equal(link.readyCount, 1);
    });

    t.test('an outage window takes the link down; it comes back when the outage ends', async (t) => {
      const { sim, link } = await setup(t, {}, { connections: 1 });
      const down = nextEvent(link, 'down');
      sim.startOutage(500, 'down');
      await down;
      const during = await settle(link.request(authRequest('000001')));
      t.equal(during.ok ? 'ok' : during.error.code, 'SW_ERR_LINK_NOT_READY');
      await link.waitReady(1, 30_000);
      t.equal((await link.request(authRequest('000002'))).getString(39), '00');
      t.ok(sim.stats.connectionsRefused + sim.stats.resets >= 1);
    });

    t.test('close(): "closed" events, never "failed"; pending requests fail as lost, later ones with SW_ERR_LINK_CLOSED', async (t) => {
      const { link } = await setup(t, { rules: [{ action: 'drop' }] });
      const closed: unknown[] = [];
      const failed: unknown[] = [];
      link.on('closed', (e) => closed.push(e));
      link.on('failed', (e) => failed.push(e));
      const p = settle(link.request(authRequest('000001'), { timeoutMs: 60_000 }));
      await link.close();
      const r = await p;
      t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_CONNECTION_LOST', 'it was written: it may have arrived');
      t.equal(closed.length, 2);
      t.equal(failed.length, 0);
      const after = await settle(link.request(authRequest('000002')));
      t.equal(after.ok ? 'ok' : after.error.code, 'SW_ERR_LINK_CLOSED');
    });
  });
}

t.test('a link to nothing: not ready, fails fast, keeps retrying with backoff', async (t) => {
  const sim = await startAcquirerSimulator({ control: false });
  const port = sim.port;
  await sim.close();
  const link = new AcquirerLink({
    name: 'nowhere',
    host: '127.0.0.1',
    port,
    codec: loadDialect('iso87-binary'),
    connections: 1,
    reconnect: { initialMs: 10, maxMs: 80, jitter: 0.5 },
  });
  const delays: number[] = [];
  link.on('failed', (e) => {
    if (e.retryInMs !== undefined) delays.push(e.retryInMs);
  });
  link.start();
  const r = await settle(link.request(authRequest('000001')));
  t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_NOT_READY');
  await waitFor(() => delays.length >= 6, 20_000, 'retries');
  await link.close();
  t.ok(
    delays.every((d) => d >= 1 && d <= 80),
    'capped',
  );
  t.ok(delays[0]! <= 10, 'starts at the initial delay');
  t.ok(Math.max(...delays.slice(3)) > delays[0]!, 'grows');
});

t.test('link options are validated', async (t) => {
  const codec = loadDialect('iso87-binary');
  t.throws(() => new AcquirerLink({ name: 'x', host: 'h', port: 1, codec, connections: 0 }), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => new AcquirerLink({ name: 'x', host: 'h', port: 1, codec, echoIdleMs: 1000, readTimeoutMs: 500 }), { code: 'SW_ERR_CONFIG_INVALID' });
});
