/**
 * Codec throughput, ours vs the npm iso_8583 package on the same messages in the same run
 * (`npm run bench:codec`). Both sides are checked to agree before anything is timed.
 * Our side packs iso87-ascii-bbitmap (ASCII fields, binary bitmap: what iso_8583 writes). The peer has
 * no TLV type, so it carries DE55 as hex text (ans LLLVAR) and our side as binary BER-TLV.
 */
import { createRequire } from 'node:module';
import { loadDialect, type IsoMessage, type TlvEntry } from '../src/iso8583/index.js';
import { realistic0100, realistic0110 } from './fixtures.js';
import { parseCli } from '../src/cli/args.js';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const USAGE = `usage: npm run bench:codec

Pack and unpack per second, ours vs the npm iso_8583 package, on a realistic 0100 (DE55 with 10 EMV tags) and
its 0110; a table, then one JSON line.
environment: BENCH_SECONDS (2) seconds per measurement
options: -h, --help   this text`;

const require = createRequire(import.meta.url);
type PeerMsg = Record<string, string>;
interface PeerInstance {
  getRawMessage(): Buffer | { error: string };
  getIsoJSON(b: Buffer, c: object): PeerMsg | { error: string };
}
const Peer = require('iso_8583') as new (msg?: PeerMsg) => PeerInstance;

const codec = loadDialect('iso87-ascii-bbitmap');
const seconds = Number(process.env.BENCH_SECONDS ?? 2);

function toPeer(m: IsoMessage): PeerMsg {
  const o: PeerMsg = { 0: m.mti };
  for (const n of m.fieldNumbers()) {
    const v = m.get(n)!;
    o[n] =
      n === 55
        ? (v as TlvEntry[]).map((e) => e.tag + e.value.length.toString(16).padStart(2, '0').toUpperCase() + e.value.toString('hex').toUpperCase()).join('')
        : String(v);
  }
  return o;
}

function check(m: IsoMessage): { ours: Buffer; peer: Buffer } {
  const ours = codec.pack(m);
  const peerRaw = new Peer(toPeer(m)).getRawMessage();
  if (!Buffer.isBuffer(peerRaw)) throw new Error(`peer failed to pack: ${JSON.stringify(peerRaw)}`);
  const back = codec.unpack(ours);
  const peerBack = new Peer().getIsoJSON(peerRaw, { lenHeader: false });
  if ('error' in peerBack) throw new Error(`peer failed to unpack: ${peerBack.error}`);
  const expect = toPeer(m);
  const ourView = toPeer(back);
  for (const k of Object.keys(expect)) {
    if (ourView[k] !== expect[k]) throw new Error(`ours disagrees on field ${k}`);
    if (peerBack[k] !== expect[k]) throw new Error(`peer disagrees on field ${k}`);
  }
  // Cross-check: each side reads the other's bytes (without DE55, which the peer carries as text).
  // The peer always writes a secondary bitmap, so the bytes differ there and only there.
  const noIcc = m.clone().delete(55);
  const peerBytes = new Peer(toPeer(noIcc)).getRawMessage() as Buffer;
  const oursFromPeer = toPeer(codec.unpack(peerBytes));
  const peerFromOurs = new Peer().getIsoJSON(codec.pack(noIcc), { lenHeader: false }) as PeerMsg;
  for (const [k, v] of Object.entries(toPeer(noIcc))) {
    if (oursFromPeer[k] !== v || peerFromOurs[k] !== v) throw new Error(`cross-read disagrees on field ${k}`);
  }
  return { ours, peer: peerRaw };
}

// ── each side in a worker of its own ──────────────────────────────────────────────────────────────────────
// A cell is a message and an operation; a side measures it in 100 ms slices when asked. Each side runs on its own
// V8 heap, as each would in production: in one heap the peer's garbage (it allocates a great deal per message)
// was collected during our slices, and the figure measured the peer's collector as much as our codec.

type Side = 'ours' | 'peer';
type Op = 'pack' | 'unpack' | 'unpack+55';
interface SliceAsk {
  label: string;
  op: Op;
  ms: number;
}
interface SliceAnswer {
  n: number;
  ms: number;
}

const MESSAGES = { '0100': realistic0100, '0110': realistic0110, '0100-55': (): IsoMessage => realistic0100().delete(55) } as const;
type Label = keyof typeof MESSAGES;

function work(side: Side, label: Label, op: Op): () => number {
  const m = MESSAGES[label]();
  const ours = codec.pack(m);
  const pm = toPeer(m);
  const peer = new Peer(pm).getRawMessage() as Buffer;
  if (side === 'ours') {
    if (op === 'pack') return () => codec.pack(m).length;
    // DE55 is checked in full at unpack but split into entries when first read (docs/codec.md): unpack+55 reads
    // it, so the figure includes building the ten entries.
    if (op === 'unpack') return () => codec.unpack(ours).mti.length;
    return () => (codec.unpack(ours).get(55) as TlvEntry[]).length;
  }
  // The peer's unpack already gives DE55 (as hex text): its unpack+55 is its unpack.
  if (op === 'pack') return () => (new Peer(pm).getRawMessage() as Buffer).length;
  return () => Object.keys(new Peer().getIsoJSON(peer, { lenHeader: false })).length;
}

function serveSide(side: Side): void {
  const cells = new Map<string, () => number>();
  let sink = 0;
  parentPort!.on('message', (a: SliceAsk) => {
    const key = `${a.label} ${a.op}`;
    let fn = cells.get(key);
    if (fn === undefined) {
      fn = work(side, a.label as Label, a.op);
      for (let i = 0; i < 2000; i++) sink += fn(); // warm up
      cells.set(key, fn);
    }
    const t0 = performance.now();
    const end = t0 + a.ms;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 100; i++) sink += fn();
      n += 100;
    }
    const answer: SliceAnswer = { n, ms: performance.now() - t0 + (sink === -1 ? 1 : 0) };
    parentPort!.postMessage(answer);
  });
}

class SideWorker {
  private readonly w: Worker;
  constructor(side: Side) {
    // a TypeScript worker: register tsx's loader inside the worker, then load this file there
    this.w = new Worker(
      `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`,
      { eval: true, execArgv: [], workerData: { side } },
    );
  }
  slice(label: Label, op: Op, ms: number): Promise<SliceAnswer> {
    return new Promise((resolve, reject) => {
      this.w.once('message', resolve);
      this.w.once('error', reject);
      this.w.postMessage({ label, op, ms } satisfies SliceAsk);
    });
  }
  terminate(): Promise<number> {
    return this.w.terminate();
  }
}

/**
 * Rates of ours and the peer's, measured in alternating slices of 100 ms over `seconds` each, one side running at
 * a time: this machine's speed drifts over seconds (other tenants), and alternating lets both sides see the same
 * drift, so the ratio is steadier than two runs taken one after the other.
 */
async function ratePair(sides: Record<Side, SideWorker>, label: Label, op: Op): Promise<{ ours: number; peer: number }> {
  const spent = { ours: 0, peer: 0 };
  const done = { ours: 0, peer: 0 };
  for (let k = 0; k < seconds * 10; k++) {
    for (const side of ['ours', 'peer'] as const) {
      const a = await sides[side].slice(label, op, 100);
      spent[side] += a.ms;
      done[side] += a.n;
    }
  }
  return { ours: done.ours / (spent.ours / 1000), peer: done.peer / (spent.peer / 1000) };
}

if (!isMainThread) {
  serveSide((workerData as { side: Side }).side);
} else {
  parseCli({
    name: 'bench:codec',
    usage: USAGE,
    options: {},
  });
  const sides = { ours: new SideWorker('ours'), peer: new SideWorker('peer') };
  const rows: { msg: string; op: string; ours: number; peer: number }[] = [];
  for (const label of Object.keys(MESSAGES) as Label[]) {
    const m = MESSAGES[label]();
    check(m);
    for (const op of ['pack', 'unpack', ...(m.has(55) ? ['unpack+55' as const] : [])] as const) {
      rows.push({ msg: label, op, ...(await ratePair(sides, label, op)) });
    }
  }
  await sides.ours.terminate();
  await sides.peer.terminate();
  report(rows);
}

function report(rows: { msg: string; op: string; ours: number; peer: number }[]): void {
  const f = (x: number): string => Math.round(x).toLocaleString('en-US');
  console.log(
    `codec benchmark: ${seconds}s per side per cell in alternating 100 ms slices, each side on its own heap (a worker), one at a time, node ${process.version}`,
  );
  console.log('msg      op         ours/s        iso_8583/s    ratio   (0100-55: the 0100 without DE55, which iso_8583 reads as plain text)');
  for (const r of rows)
    console.log(`${r.msg.padEnd(7)}  ${r.op.padEnd(9)}  ${f(r.ours).padStart(12)}  ${f(r.peer).padStart(12)}  ${(r.ours / r.peer).toFixed(1)}x`);
  const p = rows.find((r) => r.msg === '0100' && r.op === 'pack')!;
  const u = rows.find((r) => r.msg === '0100' && r.op === 'unpack')!;
  const u55 = rows.find((r) => r.msg === '0100' && r.op === 'unpack+55')!;
  console.log(
    JSON.stringify({
      pack_per_s: Math.round(p.ours),
      unpack_per_s: Math.round(u.ours),
      peer_pack_per_s: Math.round(p.peer),
      peer_unpack_per_s: Math.round(u.peer),
      pack_ratio: Number((p.ours / p.peer).toFixed(1)),
      unpack_ratio: Number((u.ours / u.peer).toFixed(1)),
      unpack_read55_per_s: Math.round(u55.ours),
      unpack_read55_ratio: Number((u55.ours / u55.peer).toFixed(1)),
    }),
  );
}
