import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage, responseMti } from '../../src/iso8583/message.js';
import { startPspServer, type PspHandler, type PspServer, type PspServerOptions } from '../../src/net/index.js';
import { createFramer, encodeFrame, keepAliveFrame, Reassembler, type Framer } from '../../src/wire/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { Rng } from '../../simulators/acquirer/random.js';
import { authRequest, nextEvent, settle, stanOf, waitFor } from '../helpers/net.js';

const codec = loadDialect('iso87-ascii-bbitmap');
const framer = createFramer();

/** Approves everything after an optional delay. */
const approve =
  (delay: (m: IsoMessage) => number = () => 0): PspHandler =>
  async (m) => {
    const d = delay(m);
    if (d > 0) await new Promise((r) => setTimeout(r, d));
    const r = new IsoMessage(responseMti(m.mti));
    for (const f of [4, 11, 37, 41]) {
      const v = m.get(f);
      if (v !== undefined) r.set(f, v);
    }
    return r.set(39, '00');
  };

async function server(t: Tap, opts: Partial<PspServerOptions> = {}): Promise<PspServer> {
  const s = await startPspServer({ codec, framer, handler: approve(), ...opts });
  t.teardown(() => s.close());
  return s;
}
type Tap = { teardown(fn: () => unknown): void };

async function client(t: Tap, port: number, f: Framer = framer): Promise<PspClient> {
  const c = await PspClient.connect({ port, codec, framer: f });
  t.teardown(() => c.close());
  return c;
}

/** A raw socket that collects frames. */
async function raw(
  t: Tap,
  port: number,
  f: Framer = framer,
): Promise<{ sock: net.Socket; frames: Buffer[]; tpdus: (Buffer | undefined)[]; closed: () => boolean }> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  await new Promise((r) => sock.once('connect', r));
  const frames: Buffer[] = [];
  const tpdus: (Buffer | undefined)[] = [];
  let closed = false;
  const re = new Reassembler(f, { onFrame: (p, tp) => (frames.push(Buffer.from(p)), tpdus.push(tp && Buffer.from(tp))) });
  sock.on('data', (c: Buffer) => re.push(c));
  sock.on('error', () => undefined);
  sock.on('close', () => (closed = true));
  t.teardown(() => sock.destroy());
  return { sock, frames, tpdus, closed: () => closed };
}

t.test('pipelined requests are answered as each is ready, out of order, each matched', async (t) => {
  const rng = new Rng(99);
  const delays = new Map<string, number>();
  const s = await server(t, { handler: approve((m) => delays.get(m.getString(11)!) ?? 0) });
  const c = await client(t, s.port);
  for (let i = 1; i <= 300; i++) delays.set(stanOf(i), rng.int(0, 40));
  const order: number[] = [];
  const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => c.send(authRequest(stanOf(i + 1))).then((r) => (order.push(i), r))));
  t.equal(rs.filter((r, i) => r.mti === '0110' && r.getString(11) === stanOf(i + 1)).length, 300);
  t.ok(
    order.some((v, pos) => v !== pos),
    'answers overtook each other',
  );
  t.equal(s.stats.framesIn, 300);
  t.equal(s.stats.framesOut, 300);
  t.equal(s.stats.inFlight, 0);
});

t.test('a frame that fails to unpack: format error 30 when the MTI is readable, else dropped with the connection kept', async (t) => {
  const s = await server(t);
  const bystander = await client(t, s.port);
  const r1 = await raw(t, s.port);
  // readable MTI, broken body (bitmap says DE2 follows, nothing does)
  r1.sock.write(encodeFrame(framer, Buffer.concat([Buffer.from('0100'), Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0])])));
  await waitFor(() => r1.frames.length === 1, 20_000, 'format error response');
  const resp = codec.unpack(r1.frames[0]!);
  t.equal(resp.mti, '0110');
  t.equal(resp.getString(39), '30');
  t.equal(s.stats.formatErrorResponses, 1);
  // the connection still works
  r1.sock.write(encodeFrame(framer, codec.pack(authRequest('000001'))));
  await waitFor(() => r1.frames.length === 2, 20_000, 'normal answer');
  t.equal(codec.unpack(r1.frames[1]!).getString(39), '00');
  // no readable MTI: dropped, and the next frame on the same connection is answered
  const r2 = await raw(t, s.port);
  r2.sock.write(encodeFrame(framer, Buffer.from('XY\x00\x01garbage')));
  await waitFor(() => s.stats.unreadableFrames === 1, 20_000, 'dropped');
  r2.sock.write(encodeFrame(framer, codec.pack(authRequest('000003'))));
  await waitFor(() => r2.frames.length === 1, 20_000, 'answered after the dropped frame');
  t.equal(codec.unpack(r2.frames[0]!).getString(11), '000003', 'only the answer to the good frame');
  t.notOk(r2.closed());
  t.equal((await bystander.send(authRequest('000002'))).getString(39), '00', 'other connections never notice');
  t.notOk(r1.closed());
});

t.test('frames split into 1-byte writes and merged in one write are both handled; keep-alives are counted', async (t) => {
  const s = await server(t);
  const r = await raw(t, s.port);
  const stream = Buffer.concat([
    keepAliveFrame(framer),
    ...[1, 2, 3].map((i) => encodeFrame(framer, codec.pack(authRequest(stanOf(i))))),
    keepAliveFrame(framer),
  ]);
  for (let i = 0; i < stream.length; i++) {
    r.sock.write(stream.subarray(i, i + 1));
    if (i % 50 === 0) await new Promise((res) => setImmediate(res));
  }
  r.sock.write(Buffer.concat([4, 5, 6, 7].map((i) => encodeFrame(framer, codec.pack(authRequest(stanOf(i)))))));
  await waitFor(() => r.frames.length === 7, 20_000, 'seven answers');
  t.same(r.frames.map((f) => codec.unpack(f).getString(11)).sort(), [1, 2, 3, 4, 5, 6, 7].map(stanOf));
  t.equal(s.stats.keepAlives, 2);
});

t.test('a frame over the size cap closes that connection', async (t) => {
  const s = await server(t, { maxFrameBytes: 200 });
  const limits: unknown[] = [];
  s.on('limit', (e) => limits.push(e));
  const r = await raw(t, s.port);
  const hdr = Buffer.alloc(2);
  hdr.writeUInt16BE(5000);
  r.sock.write(hdr);
  await waitFor(() => r.closed(), 20_000, 'close');
  t.equal(s.stats.frameErrors, 1);
  t.match(limits, [{ kind: 'frame' }]);
});

t.test('connection limit: the extra connection is refused and counted', async (t) => {
  const s = await server(t, { maxConnections: 2 });
  const a = await client(t, s.port);
  await client(t, s.port);
  await waitFor(() => s.connectionCount === 2, 20_000, 'two connections');
  const limit = nextEvent(s, 'limit');
  const r = await raw(t, s.port);
  await waitFor(() => r.closed(), 20_000, 'refused');
  t.match(await limit, { kind: 'connections' });
  t.equal(s.stats.connectionsRefused, 1);
  t.equal((await a.send(authRequest('000001'))).getString(39), '00');
});

t.test('in-flight limit per connection: reading pauses at the limit and resumes', async (t) => {
  const held: (() => void)[] = [];
  const handler: PspHandler = (m) =>
    new Promise((resolve) => {
      held.push(() => resolve(new IsoMessage(responseMti(m.mti), { 11: m.getString(11)!, 41: m.getString(41)!, 39: '00' })));
    });
  const s = await server(t, { handler, maxInFlightPerConnection: 4 });
  const c = await client(t, s.port);
  const ps = Array.from({ length: 10 }, (_, i) => c.send(authRequest(stanOf(i + 1))));
  await waitFor(() => held.length === 4, 20_000, 'four in the handler');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(held.length, 4, 'no fifth request is read while four are in flight');
  t.equal(s.stats.inFlightLimitHits, 1);
  let released = 0;
  while (released < 10) {
    await waitFor(() => held.length > released, 20_000, 'next request');
    held[released++]!();
  }
  t.equal((await Promise.all(ps)).length, 10);
  t.ok(s.stats.inFlightLimitHits >= 2);
});

t.test('handler failures answer 96; null answers nothing; TPDU addresses are swapped on the answer', async (t) => {
  const f = createFramer({ tpdu: true });
  const s = await server(t, {
    framer: f,
    handler: async (m) => {
      if (m.getString(11) === '000001') throw new Error('boom');
      if (m.getString(11) === '000002') return null;
      return approve()(m, { connectionId: '', psp: '', remoteAddress: '', receivedAt: 0 });
    },
  });
  const r = await raw(t, s.port, f);
  const tpdu = Buffer.from([0x60, 0x00, 0x01, 0x00, 0x02]);
  for (const i of [1, 2, 3]) r.sock.write(encodeFrame(f, codec.pack(authRequest(stanOf(i))), tpdu));
  await waitFor(() => r.frames.length === 2, 20_000, 'two answers');
  await new Promise((res) => setTimeout(res, 100));
  t.equal(r.frames.length, 2, 'null answered nothing');
  const byStan = new Map(r.frames.map((b) => [codec.unpack(b).getString(11), codec.unpack(b)]));
  t.equal(byStan.get('000001')?.getString(39), '96');
  t.equal(byStan.get('000001')?.getString(41), 'TERM0001', 'echo fields copied');
  t.notOk(byStan.get('000001')?.has(2), 'no PAN in a server-formed answer');
  t.equal(byStan.get('000003')?.getString(39), '00');
  t.same(r.tpdus[0], Buffer.from([0x60, 0x00, 0x02, 0x00, 0x01]));
  t.equal(s.stats.handlerErrors, 1);
});

t.test('idle connections are closed; busy ones are not', async (t) => {
  const s = await server(t, { idleTimeoutMs: 150, handler: approve(() => 600) });
  const idle = await raw(t, s.port);
  const busy = await client(t, s.port);
  const p = busy.send(authRequest('000001'));
  await waitFor(() => idle.closed(), 20_000, 'idle close');
  t.equal((await p).getString(39), '00', 'the busy connection outlived the idle timeout');
  t.ok(s.stats.idleTimeouts >= 1);
});

t.test('defaults: iso87-ascii-bbitmap with a 2-byte binary length', async (t) => {
  const s = await startPspServer({ handler: approve() });
  t.teardown(() => s.close());
  t.equal(s.options.codec.name, 'iso87-ascii-bbitmap');
  t.equal(s.options.framer.name, 'binary2');
  const c = await client(t, s.port);
  t.equal((await c.send(authRequest('000001'))).getString(39), '00');
});

t.test('a port in use is a typed error', async (t) => {
  const s = await server(t);
  const r = await settle(startPspServer({ codec, handler: approve(), port: s.port }));
  t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_NET_LISTEN_FAILED');
});

t.test('graceful shutdown: stop accepting, finish in-flight, then close', async (t) => {
  const s = await startPspServer({ codec, framer, handler: approve(() => 300) });
  const c = await PspClient.connect({ port: s.port, codec, framer });
  const p = c.send(authRequest('000001'));
  await waitFor(() => s.stats.inFlight === 1, 20_000, 'in flight');
  const closing = s.close();
  const refused = await settle(PspClient.connect({ port: s.port, codec, framer }));
  t.equal(refused.ok, false, 'no new connections');
  t.equal((await p).getString(39), '00', 'the in-flight request was answered');
  await closing;
  await waitFor(() => c.closed, 20_000, 'client closed');
  t.equal(s.connectionCount, 0);
});

t.test('a slow-reading PSP is cut off, the heap stays bounded, other connections keep working', async (t) => {
  const s = await server(t, { maxBufferedBytes: 256 * 1024, writeStallTimeoutMs: 3000, maxInFlightPerConnection: 512 });
  const good = await client(t, s.port);
  const slow = net.connect({ port: s.port, host: '127.0.0.1' });
  await new Promise((r) => slow.once('connect', r));
  slow.on('error', () => undefined);
  slow.pause(); // never reads a byte
  let slowClosed = false;
  slow.on('close', () => (slowClosed = true));
  t.teardown(() => slow.destroy());
  const cut = nextEvent(s, 'limit', 60_000, (e: { kind: string }) => e.kind === 'slow-reader');

  const heap0 = process.memoryUsage().heapUsed;
  let heapPeak = heap0;
  const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 20);
  // the slow peer writes as fast as its socket lets it, respecting its own backpressure
  const frame = encodeFrame(framer, codec.pack(authRequest('000001')));
  const batch = Buffer.concat(
    Array.from({ length: 200 }, (_, i) => encodeFrame(framer, codec.pack(authRequest(stanOf(i + 1), { terminal: `S${String(i).padStart(7, '0')}` })))),
  );
  void frame;
  let written = 0;
  const writer = (async () => {
    while (!slowClosed && written < 2_000_000) {
      const ok = slow.write(batch);
      written += 200;
      if (!ok) await Promise.race([new Promise((r) => slow.once('drain', r)), new Promise((r) => slow.once('close', r))]);
    }
  })();
  // meanwhile the good connection keeps working
  const latencies: number[] = [];
  let goodErrors = 0;
  let n = 0;
  while (!slowClosed) {
    const t0 = Date.now();
    const r = await settle(good.send(authRequest(stanOf(++n), { terminal: 'GOODTERM' })));
    if (!r.ok || r.value.getString(39) !== '00') goodErrors++;
    latencies.push(Date.now() - t0);
    await new Promise((res) => setTimeout(res, 5));
    if (n > 100_000) break;
  }
  await writer;
  clearInterval(sampler);
  t.match(await cut, { kind: 'slow-reader' });
  t.ok(slowClosed, 'the slow peer was cut off');
  t.equal(s.stats.slowReaderCutoffs, 1);
  t.equal(goodErrors, 0, `the good connection answered all ${n} requests meanwhile`);
  t.ok(n >= 1);
  t.ok(heapPeak - heap0 < 96 * 1024 * 1024, `heap growth bounded (${Math.round((heapPeak - heap0) / 1048576)} MiB)`);
  latencies.sort((a, b) => a - b);
  t.comment(`good connection: ${n} round trips, p50 ${latencies[latencies.length >> 1]} ms, max ${latencies[latencies.length - 1]} ms`);
  t.equal((await good.send(authRequest('999999', { terminal: 'GOODTERM' }))).getString(39), '00');
});

t.test('TLS: TLS 1.2+ with the configured certificate; older clients are refused', async (t) => {
  const dir = new URL('./fixtures/', import.meta.url);
  const cert = readFileSync(new URL('test-cert.pem', dir));
  const key = readFileSync(new URL('test-key.pem', dir));
  const s = await server(t, { tls: { cert, key } });
  const c = await PspClient.connect({ port: s.port, codec, framer, tls: { ca: cert, servername: 'localhost' } });
  t.teardown(() => c.close());
  t.equal((await c.send(authRequest('000001'))).getString(39), '00');
  t.match((c.socket as tls.TLSSocket).getProtocol(), /^TLSv1\.[23]$/);
  const old = await settle(
    PspClient.connect({ port: s.port, codec, framer, tls: { ca: cert, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' } }),
  );
  t.equal(old.ok, false, 'TLS 1.1 handshake refused');
  t.throws(() => new (s.constructor as new (o: PspServerOptions) => PspServer)({ codec, handler: approve(), tls: { cert: '', key: '' } }), {
    code: 'SW_ERR_NET_TLS_CONFIG',
  });
});

t.test('limits log a clear pino line with their code, never card data', async (t) => {
  const { pino } = await import('pino');
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const s = await server(t, { logger, maxConnections: 1, maxInFlightPerConnection: 1, maxFrameBytes: 300, handler: approve(() => 50) });
  const c = await client(t, s.port);
  const rs = await Promise.all([1, 2, 3].map((i) => c.send(authRequest(stanOf(i)))));
  t.equal(rs.length, 3);
  const extra = await raw(t, s.port);
  await waitFor(() => extra.closed(), 20_000, 'refused');
  await c.close();
  await waitFor(() => s.connectionCount === 0, 20_000, 'closed');
  const big = await raw(t, s.port);
  big.sock.write(Buffer.from([0x10, 0x00]));
  await waitFor(() => big.closed(), 20_000, 'frame cap');
  const codes = lines.map((l) => l['code']).filter(Boolean);
  t.ok(codes.includes('SW_ERR_NET_INFLIGHT_LIMIT'), 'in-flight limit logged');
  t.ok(codes.includes('SW_ERR_NET_CONNECTION_LIMIT'), 'connection limit logged');
  t.ok(codes.includes('SW_ERR_FRAME_TOO_LARGE'), 'frame cap logged');
  t.notMatch(JSON.stringify(lines), /4111111111111111/, 'no PAN in any log line');
});

t.test('the answers the server forms itself carry the DE39 codes of its `answers` option', async (t) => {
  const answers = { formatError: 'F1', systemError: 'S1', unavailable: 'U1' };
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const s = await server(t, {
    answers,
    maxInFlight: 1,
    handler: async (m) => {
      if (m.getString(11) === '000001') throw new Error('handler broke');
      if (m.getString(11) === '000002') await gate;
      return approve()(m, { connectionId: '', psp: '', remoteAddress: '', receivedAt: 0 });
    },
  });
  t.same(s.options.answers, answers);
  const c = await client(t, s.port);
  t.equal((await c.send(authRequest('000001'))).getString(39), 'S1', 'handler failure: systemError');
  const held = c.send(authRequest('000002'));
  await waitFor(() => s.stats.inFlight === 1, 20_000, 'one in flight');
  t.equal((await c.send(authRequest('000003'))).getString(39), 'U1', 'maxInFlight across connections: unavailable');
  release();
  t.equal((await held).getString(39), '00');
  const r = await raw(t, s.port);
  r.sock.write(encodeFrame(framer, Buffer.concat([Buffer.from('0100'), Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0])])));
  await waitFor(() => r.frames.length === 1, 20_000, 'format error response');
  t.equal(codec.unpack(r.frames[0]!).getString(39), 'F1', 'unreadable request: formatError');
  const partial = await server(t, { answers: { systemError: 'S2' } });
  t.same(partial.options.answers, { formatError: '30', systemError: 'S2', unavailable: '91' }, 'unset ones keep the ISO defaults');
  t.throws(() => new (s.constructor as new (o: PspServerOptions) => PspServer)({ codec, handler: approve(), answers: { formatError: '300' } }), {
    code: 'SW_ERR_CONFIG_INVALID',
    message: /answers\.formatError/,
  });
});

t.test("the server's own SW_ERR_NET_* are SwitchErrors: emitted on netError and logged with their code and message", async (t) => {
  const { pino } = await import('pino');
  const { SwitchError } = await import('../../src/errors.js');
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const s = await server(t, {
    logger,
    maxConnections: 1,
    maxInFlightPerConnection: 1,
    idleTimeoutMs: 300,
    handler: async (m) => {
      if (m.getString(11) === '000009') throw Object.assign(new Error('failed on 4111111111111111'), { code: 'EBROKEN' });
      return approve(() => 30)(m, { connectionId: '', psp: '', remoteAddress: '', receivedAt: 0 });
    },
  });
  const seen: { connectionId: string | null; error: InstanceType<typeof SwitchError> }[] = [];
  s.on('netError', (e) => seen.push(e));
  const c = await client(t, s.port);
  await Promise.all([c.send(authRequest('000001')), c.send(authRequest('000002'))]); // in-flight limit
  t.equal((await c.send(authRequest('000009'))).getString(39), '96'); // handler failed
  c.socket.write(encodeFrame(framer, Buffer.from('01'))); // no MTI: dropped
  const extra = await raw(t, s.port); // connection limit
  await waitFor(() => extra.closed(), 20_000, 'refused');
  await waitFor(() => seen.some((e) => e.error.code === 'SW_ERR_NET_IDLE_TIMEOUT'), 20_000, 'idle close');
  const codes = new Set(seen.map((e) => e.error.code));
  for (const code of [
    'SW_ERR_NET_INFLIGHT_LIMIT',
    'SW_ERR_NET_HANDLER_FAILED',
    'SW_ERR_NET_UNREADABLE_FRAME',
    'SW_ERR_NET_CONNECTION_LIMIT',
    'SW_ERR_NET_IDLE_TIMEOUT',
  ]) {
    t.ok(codes.has(code as never), `${code} raised`);
    const ev = seen.find((e) => e.error.code === code)!;
    t.ok(ev.error instanceof SwitchError, `${code} is a SwitchError`);
    const line = lines.find((l) => l['code'] === code);
    t.ok(line, `${code} logged`);
    t.equal(line?.['message'], ev.error.message, `${code}: the log line has the rendered message`);
  }
  t.equal(seen.find((e) => e.error.code === 'SW_ERR_NET_CONNECTION_LIMIT')!.connectionId, null, 'server-wide: no connection');
  t.match(seen.find((e) => e.error.code === 'SW_ERR_NET_HANDLER_FAILED')!.error.message, /handler failed for 0100 \(EBROKEN\)/);
  const handlerLine = lines.find((l) => l['code'] === 'SW_ERR_NET_HANDLER_FAILED')!;
  t.match(handlerLine['cause'], { code: 'EBROKEN', message: 'failed on [digits]' }, 'the cause through the scrubbed summary');
  t.notMatch(JSON.stringify(lines), /4111111111111111/, 'no PAN in any log line');
});
