/**
 * npm run bench:link [-- --duration 5 --depth 256 --dialect iso87-binary]
 *
 * Round trips per second through one acquirer link (one connection) to the acquirer simulator, against a bare
 * length-prefix relay to the same simulator in the same run: the relay writes pre-packed frames and counts the
 * answers by their 2-byte length, never packing, unpacking or matching; same pipeline depth. The relay is the
 * ceiling any link can reach against this peer; the ratio is what the link's own work (pack, unpack, match,
 * timers, events) leaves of it. Both peers run in this process, journal off. For information, the same raw
 * client against an echo peer (sockets and framing only) is printed too.
 *
 * Prints a table and, as the last line, {"link_rt_per_s":…,"relay_rt_per_s":…,"ratio":…}.
 */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { loadDialect } from '../src/iso8583/index.js';
import { IsoMessage } from '../src/iso8583/message.js';
import { AcquirerLink } from '../src/net/link/index.js';
import { BatchWriter } from '../src/net/batch-writer.js';
import { StanGenerator } from '../src/net/mti.js';
import { createFramer, Reassembler } from '../src/wire/index.js';
import { startAcquirerSimulator } from '../simulators/acquirer/index.js';
import { parseCli } from '../src/cli/args.js';

const { values } = parseCli({
  name: 'bench:link',
  usage: `usage: npm run bench:link [-- --duration 5 --warmup 1 --depth 256 --dialect iso87-binary --only link|relay]

Round trips per second through one acquirer link vs a bare length-prefix relay to the same simulator; a
table, then one JSON line.
options:
  --duration S    timed seconds per measurement (default 5)
  --warmup S      seconds before timing (default 1)
  --depth N       requests in flight (default 256)
  --dialect NAME  the simulator's dialect (default iso87-binary)
  --only WHAT     link or relay only
  -h, --help      this text`,
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    depth: { type: 'string', default: '256' },
    dialect: { type: 'string', default: 'iso87-binary' },
    only: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const depth = Number(values.depth);
const codec = loadDialect(values.dialect);
const framer = createFramer();

function template(): IsoMessage {
  return new IsoMessage('0100', {
    2: '4111111111111111',
    3: '000000',
    4: '000000001000',
    7: '1122120000',
    11: '000001',
    12: '120000',
    13: '1122',
    14: '2812',
    18: '5999',
    22: '051',
    25: '00',
    37: '000000000001',
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    43: 'BENCH SHOP                 PARIS      FR',
    49: '978',
  });
}

/** Runs `depth` closed-loop workers of `once` for warmup + duration; returns round trips/s in the timed part. */
async function closedLoop(once: () => Promise<void>): Promise<number> {
  let count = 0;
  let counting = false;
  let stop = false;
  const workers = Array.from({ length: depth }, async () => {
    while (!stop) {
      await once();
      if (counting) count++;
    }
  });
  await new Promise((r) => setTimeout(r, warmupMs));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationMs));
  counting = false;
  const dt = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  return count / dt;
}

async function benchLink(): Promise<number> {
  const sim = await startAcquirerSimulator({ codec, framer, control: false, seed: 1, journal: false });
  const link = new AcquirerLink({
    name: 'bench',
    host: sim.host,
    port: sim.port,
    codec,
    framer,
    connections: 1,
    maxInFlight: depth + 10,
    echoIdleMs: 0,
    readTimeoutMs: 0,
  });
  link.start();
  await link.waitReady(1);
  const stan = new StanGenerator(1);
  const base = template();
  // check the input before timing
  const probe = await link.request(base.clone().set(11, '999999'));
  if (probe.mti !== '0110' || probe.getString(11) !== '999999' || probe.getString(39) !== '00') throw new Error('link probe failed: wrong answer');
  const rate = await closedLoop(async () => {
    const r = await link.request(base.clone().set(11, stan.next()));
    if (r.mti !== '0110') throw new Error('unexpected answer');
  });
  await link.close();
  await sim.close();
  return rate;
}

/** A bare length-prefix client: pre-packed frames out, frames counted back by their length, nothing parsed. */
async function rawLoop(port: number): Promise<number> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  await new Promise((r) => sock.once('connect', r));
  sock.setNoDelay(true);
  const payload = codec.pack(template());
  const w = new BatchWriter(sock, framer);
  const waiting: (() => void)[] = [];
  let frames = 0;
  const r = new Reassembler(framer, {
    onFrame: () => {
      frames++;
      waiting.shift()?.();
    },
  });
  sock.on('data', (c: Buffer) => r.push(c));
  // check the input before timing: one frame out, one frame back
  await new Promise<void>((resolve) => {
    waiting.push(resolve);
    w.write(payload);
  });
  if (frames !== 1) throw new Error('relay probe failed');
  const rate = await closedLoop(
    () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        w.write(payload);
      }),
  );
  sock.destroy();
  return rate;
}

/** The ceiling: the same simulator, driven by a relay that never packs, unpacks or matches. */
async function benchRelay(): Promise<number> {
  const sim = await startAcquirerSimulator({ codec, framer, control: false, seed: 1, journal: false });
  const rate = await rawLoop(sim.port);
  await sim.close();
  return rate;
}

/** For information: the same raw client against an echo peer (sockets and framing only, no simulator). */
async function benchEcho(): Promise<number> {
  const server = net.createServer((s: Socket) => {
    s.setNoDelay(true);
    const w = new BatchWriter(s, framer);
    const r = new Reassembler(framer, { onFrame: (p) => w.write(p) });
    s.on('data', (c: Buffer) => r.push(c));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const rate = await rawLoop((server.address() as AddressInfo).port);
  await new Promise<void>((res) => server.close(() => res()));
  return rate;
}

const relay = values.only === 'link' ? NaN : await benchRelay();
const linkRate = values.only === 'relay' ? NaN : await benchLink();
const echo = values.only ? NaN : await benchEcho();
const ratio = linkRate / relay;
const rows: [string, string][] = [
  ['dialect / framer', `${codec.name} / ${framer.name}`],
  ['pipeline depth', String(depth)],
  ['timed seconds (each)', String(durationMs / 1000)],
  ['relay → simulator round trips/s (ceiling)', Math.round(relay).toLocaleString('en-US')],
  ['link round trips/s', Math.round(linkRate).toLocaleString('en-US')],
  ['ratio link / relay (target ≥ 0.25)', ratio.toFixed(3)],
  ['info: relay → echo peer round trips/s', Math.round(echo).toLocaleString('en-US')],
];
const w = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
process.stdout.write(JSON.stringify({ link_rt_per_s: Math.round(linkRate), relay_rt_per_s: Math.round(relay), ratio: Math.round(ratio * 1000) / 1000 }) + '\n');
