/**
 * npm run bench:e2e [-- --duration 8 --rate 2000 --low-rate 200 --connections 8 --depth 64 --only switch|saturation|relay]
 *
 * Authorizations end to end: PSP client → switch (unpack, duplicate check, merchant, risk, routing, durable
 * intent, translate) → acquirer simulator (zero latency, journal off) → switch (translate back, durable
 * ledger hold, durable outcome) → PSP client. Two figures:
 *  - saturation: closed loop, `connections` × `depth` requests in flight, authorizations/s;
 *  - fixed rate (default 2,000/s, open loop): PSP-observed round trip, the acquirer side as the switch sees it
 *    (link write → answer, the simulator included), and switch-added latency = round trip − acquirer time,
 *    matched per request. When the switch saturates below that rate, the same figures at half its saturation
 *    rate are printed too (the figures at 2,000/s are then queueing).
 * Beside them, in the same run, the ceiling: the same PSP load through a bare length-prefix relay (frames
 * forwarded as they are, nothing unpacked, matched or written to a database) to a simulator in the PSP's
 * dialect. The load and the simulators run in a worker thread (its own event loop), the switch alone on the main one.
 *
 * Database: DATABASE_URL, else the local server (postgres://postgres@127.0.0.1:5432/test), else an embedded
 * PostgreSQL; the run uses a fresh schema and drops it. Profile the switch with
 *   node --cpu-prof --cpu-prof-dir=prof --import tsx bench/e2e.ts --only saturation
 *
 * Prints a table and, as the last line, {"auth_per_s":…,"relay_per_s":…,"p50_ms_at_2000":…,"p99_ms_at_2000":…}.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import pg from 'pg';
import pino from 'pino';
import hdr from 'hdr-histogram-js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { IsoMessage } from '../src/iso8583/message.js';
import { transmissionDateTime } from '../src/net/mti.js';
import { createFramer, framerByName, Reassembler } from '../src/wire/index.js';
import { BatchWriter } from '../src/net/batch-writer.js';
import { probe, resolveDatabaseUrl } from '../src/store/postgres.js';
import { loadConfig } from '../src/switch/config.js';
import { startSwitch } from '../src/switch/runtime.js';
import { startAcquirerSimulator, type AcquirerSimulator } from '../simulators/acquirer/index.js';
import { PspClient } from '../simulators/psp/client.js';
import { cpuNow, cpuPerOp, pidsCpuMs, type CpuSample } from './cpu.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ── the load (worker thread) ─────────────────────────────────────────────────────────────────────────────

interface Phase {
  port: number;
  connections: number;
  mode: 'closed' | 'open';
  depth: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** First DE4 of this phase: DE4 is the per-request key the main thread matches acquirer times with. */
  keyBase: number;
}

interface PhaseResult {
  answered: number;
  errors: number;
  /** Open loop: requests not sent because MAX_OPEN_INFLIGHT were already waiting (the switch fell behind). */
  skipped: number;
  seconds: number;
  codes: Record<string, number>;
  /** [key, round trip ms] pairs of the timed part. */
  samples: Float64Array;
}

const MAX_OPEN_INFLIGHT = 4096;

async function runPhase(p: Phase): Promise<PhaseResult> {
  const clients = await Promise.all(Array.from({ length: p.connections }, () => PspClient.connect({ port: p.port, timeoutMs: 30_000 })));
  let seq = 0;
  let answered = 0;
  let errors = 0;
  let skipped = 0;
  const codes: Record<string, number> = {};
  const samples: number[] = [];
  let timing = false;
  const fire = async (c: PspClient, idx: number): Promise<void> => {
    const n = seq++;
    const key = p.keyBase + n;
    // a fresh card per request (card velocity), amounts 1,000..299,999 (one routing rule, under every limit)
    const msg = new IsoMessage('0100', {
      2: `41110000${String(key % 100_000_000).padStart(8, '0')}`,
      3: '000000',
      4: String(1_000 + (key % 298_000)).padStart(12, '0'),
      7: transmissionDateTime(),
      11: c.stan.next(),
      12: '120000',
      13: '1122',
      22: '051',
      41: `B${String(idx).padStart(7, '0')}`,
      42: 'SHOP00000000001',
      49: '978',
    });
    const t0 = performance.now();
    const counted = timing;
    try {
      const r = await c.send(msg);
      const rt = performance.now() - t0;
      if (timing) answered++; // throughput: answers inside the timed window
      if (counted) {
        // latency: every request sent inside the window, however late its answer (queueing included)
        const rc = r.getString(39) ?? 'none';
        codes[rc] = (codes[rc] ?? 0) + 1;
        samples.push(1_000 + (key % 298_000), rt);
      }
    } catch {
      if (counted) errors++;
    }
  };
  let stop = false;
  const loops: Promise<void>[] = [];
  if (p.mode === 'closed') {
    clients.forEach((c, idx) => {
      for (let d = 0; d < p.depth; d++) loops.push((async () => { while (!stop) await fire(c, idx); })());
    });
  } else {
    loops.push(new Promise<void>((resolve) => {
      const inflight = new Set<Promise<void>>();
      let due = 0;
      let last = performance.now();
      let rr = 0;
      const timer = setInterval(() => {
        if (stop) {
          clearInterval(timer);
          void Promise.all(inflight).then(() => resolve());
          return;
        }
        const now = performance.now();
        due += ((now - last) / 1000) * p.rate;
        last = now;
        while (due >= 1) {
          due--;
          if (inflight.size >= MAX_OPEN_INFLIGHT) {
            if (timing) skipped++;
            continue;
          }
          const idx = rr++ % clients.length;
          const f = fire(clients[idx]!, idx);
          inflight.add(f);
          void f.then(() => inflight.delete(f));
        }
      }, 1);
    }));
  }
  await new Promise((r) => setTimeout(r, p.warmupMs));
  timing = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, p.durationMs));
  timing = false;
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  await Promise.all(clients.map((c) => c.close()));
  return { answered, errors, skipped, seconds, codes, samples: Float64Array.from(samples) };
}

type Cmd = { type: 'sims'; specs: Array<{ dialect: string; framer: string }> } | { type: 'phase'; phase: Phase } | { type: 'close' };

if (!isMainThread) {
  // the acquirer simulators live here too, beside the PSP load: the main thread runs the switch alone
  const sims: AcquirerSimulator[] = [];
  const handle = async (m: Cmd): Promise<unknown> => {
    if (m.type === 'sims') {
      for (const spec of m.specs) {
        sims.push(await startAcquirerSimulator({ dialect: spec.dialect, framer: framerByName(spec.framer), port: 0, control: false, journal: false, seed: 1, behaviour: { defaultResponseCode: '00', rules: [] } }));
      }
      return sims.slice(-m.specs.length).map((x) => x.port);
    }
    if (m.type === 'phase') return runPhase(m.phase);
    for (const x of sims) await x.close();
    return null;
  };
  parentPort!.on('message', (m: Cmd) => {
    handle(m).then(
      (r) => parentPort!.postMessage({ ok: true, r }, r && typeof r === 'object' && 'samples' in r ? [(r as PhaseResult).samples.buffer as ArrayBuffer] : []),
      (e: unknown) => parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}

// ── the switch and the relay (main thread) ───────────────────────────────────────────────────────────────

class Load {
  private readonly w = new Worker(
    // a TypeScript worker: register tsx's loader inside the worker, then load this file there
    `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`,
    { eval: true, execArgv: [] },
  );
  private call<T>(m: Cmd): Promise<T> {
    return new Promise((resolve, reject) => {
      this.w.once('message', (a: { ok: true; r: T } | { ok: false; error: string }) => (a.ok ? resolve(a.r) : reject(new Error(a.error))));
      this.w.once('error', reject);
      this.w.postMessage(m);
    });
  }
  run(p: Phase): Promise<PhaseResult> {
    return this.call({ type: 'phase', phase: p });
  }
  simulators(specs: Array<{ dialect: string; framer: string }>): Promise<number[]> {
    return this.call({ type: 'sims', specs });
  }
  async close(): Promise<void> {
    await this.call({ type: 'close' }).catch(() => undefined);
    await this.w.terminate();
  }
}

/** Frames from each PSP connection go to a simulator connection of its own and back, untouched. */
async function startRelay(target: number): Promise<{ port: number; close(): Promise<void> }> {
  const framer = createFramer();
  const socks = new Set<net.Socket>();
  const srv = net.createServer((psp) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    socks.add(psp).add(up);
    psp.setNoDelay(true);
    up.setNoDelay(true);
    const toUp = new BatchWriter(up, framer);
    const toPsp = new BatchWriter(psp, framer);
    const fromPsp = new Reassembler(framer, { onFrame: (f) => toUp.write(f) });
    const fromUp = new Reassembler(framer, { onFrame: (f) => toPsp.write(f) });
    psp.on('data', (c: Buffer) => fromPsp.push(c));
    up.on('data', (c: Buffer) => fromUp.push(c));
    const end = () => {
      psp.destroy();
      up.destroy();
    };
    psp.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const s of socks) s.destroy();
      srv.close(() => r());
    }),
  };
}

async function database(): Promise<{ serverUrl: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { serverUrl: process.env.DATABASE_URL, stop: async () => undefined };
  const local = 'postgres://postgres@127.0.0.1:5432/test';
  if (await probe(local)) return { serverUrl: local, stop: async () => undefined };
  const db = await resolveDatabaseUrl({ env: {}, dataDir: mkdtempSync(path.join(os.tmpdir(), 'bench-e2e-pg-')) });
  return { serverUrl: db.url, stop: () => db.stop() };
}

const pct = (h: hdr.Histogram, p: number): number => Math.round(h.getValueAtPercentile(p)) / 1000;
const histogram = (): hdr.Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      rate: { type: 'string', default: '2000' },
      'low-rate': { type: 'string', default: '200' },
      connections: { type: 'string', default: '8' },
      depth: { type: 'string', default: '64' },
      only: { type: 'string' },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const rate = Number(values.rate);
  const lowRate = Number(values['low-rate']);
  const connections = Number(values.connections);
  const depth = Number(values.depth);
  const only = values.only;

  // simulators in the acquirers' dialects (zero latency, journal off, in the load's thread) and a rules copy
  // pointing at them
  const load = new Load();
  const doc = parseYaml(readFileSync(path.join(ROOT, 'rules', 'acquirers.yaml'), 'utf8')) as { acquirers: Array<{ id: string; link: { port: number; dialect: string; framer: string } }> };
  const ports = await load.simulators(doc.acquirers.map((a) => ({ dialect: a.link.dialect, framer: a.link.framer })));
  doc.acquirers.forEach((a, i) => (a.link.port = ports[i]!));
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'bench-e2e-rules-'));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  writeFileSync(path.join(rulesDir, 'acquirers.yaml'), stringifyYaml(doc));

  const rows: [string, string][] = [];
  let authPerS = NaN;
  let relayPerS = NaN;
  let p50 = NaN;
  let p99 = NaN;
  let p50Low = NaN;
  let cpu: ReturnType<typeof cpuPerOp> | undefined;
  const db = await database();
  const schema = `bench_e2e_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: db.serverUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  try {
    if (only !== 'relay') {
      const u = new URL(db.serverUrl);
      u.searchParams.set('options', `-c search_path=${schema}`);
      const cfg = loadConfig({
        env: {},
        overrides: {
          database: { url: u.toString(), poolSize: 12 }, psp: { port: 0 }, admin: { enabled: false }, rulesDir, logLevel: 'silent', acquirerTimeoutMs: 10_000,
        },
      });
      const h = await startSwitch(cfg, { log: pino({ level: 'silent' }) });
      // acquirer time per request, keyed by DE4 (unique per request within a phase)
      const acqMs = new Map<string, number>();
      const request = h.acquirers.request.bind(h.acquirers);
      h.acquirers.request = async (id, msg, services, timeoutMs) => {
        const t0 = performance.now();
        const r = await request(id, msg, services, timeoutMs);
        acqMs.set(msg.getString(4)!, performance.now() - t0);
        return r;
      };
      // check the input before timing: one approval with a durable hold
      const probeClient = await PspClient.connect({ port: h.pspPort });
      const res = await probeClient.send(new IsoMessage('0100', { 2: '4111000099999999', 3: '000000', 4: '000000999999', 7: transmissionDateTime(), 11: '000001', 22: '051', 41: 'PROBE001', 42: 'SHOP00000000001', 49: '978' }));
      await probeClient.close();
      const { rows: held } = await h.pool.query<{ state: string }>(`select p.state from switch_txn t join ledger_plan p on p.id = t.id where t.psp_terminal = 'PROBE001'`);
      if (res.getString(39) !== '00' || held[0]?.state !== 'HOLD') throw new Error(`probe failed: ${res.getString(39)} ${held[0]?.state}`);

      // CPU of Postgres, of the switch (this main thread) and of the load + simulators (the worker) over the timed window
      let cpuA: CpuSample | undefined;
      let cpuB: CpuSample | undefined;
      // and of the backends of the two write streams, each on its own
      const { rows: backends } = await h.pool.query<{ pid: number; app: string }>(`select pid, application_name as app from pg_stat_activity where application_name like 'iso8583-switch %'`);
      const streamCpu = () => Object.fromEntries(['intents', 'answers'].map((k) => [k, pidsCpuMs(backends.filter((b) => b.app.endsWith(k)).map((b) => b.pid))]));
      let sA: Record<string, number> = {};
      let sB: Record<string, number> = {};
      const ta = setTimeout(() => { cpuA = cpuNow(); sA = streamCpu(); }, warmupMs);
      const tb = setTimeout(() => { cpuB = cpuNow(); sB = streamCpu(); }, warmupMs + durationMs);
      const sat = await load.run({ port: h.pspPort, connections, mode: 'closed', depth, rate: 0, warmupMs, durationMs, keyBase: 0 });
      clearTimeout(ta);
      clearTimeout(tb);
      authPerS = sat.answered / sat.seconds;
      if (cpuA && cpuB) {
        cpu = cpuPerOp(cpuA, cpuB, sat.answered);
        rows.push(['saturation: CPU µs per authorization', `PostgreSQL ${cpu.postgresUs}, switch ${cpu.switchUs}, load + simulators ${cpu.loadUs}`]);
        const per = (k: string) => Math.round((((sB[k] ?? 0) - (sA[k] ?? 0)) * 1000) / Math.max(1, sat.answered) * 10) / 10;
        rows.push(['saturation: PostgreSQL µs per authorization', `intent backend ${per('intents')}, answer backend ${per('answers')}, the rest ${Math.round((cpu.postgresUs - per('intents') - per('answers')) * 10) / 10}`]);
      }
      const approvedShare = (sat.codes['00'] ?? 0) / Math.max(1, sat.answered);
      if (approvedShare < 0.99) throw new Error(`saturation run was not approvals: ${JSON.stringify(sat.codes)}`);
      rows.push(['saturation: authorizations/s (closed loop)', `${Math.round(authPerS).toLocaleString('en-US')}  (${connections} connections × ${depth} in flight, ${sat.errors} errors)`]);
      const satRt = histogram();
      for (let i = 1; i < sat.samples.length; i += 2) satRt.recordValue(Math.max(1, Math.round(sat.samples[i]! * 1000)));
      rows.push(['saturation: PSP round trip p50 / p99 ms', `${pct(satRt, 50)} / ${pct(satRt, 99)}`]);

      if (only !== 'saturation') {
        const fixedRate = async (r: number, keyBase: number) => {
          acqMs.clear();
          const fixed = await load.run({ port: h.pspPort, connections, mode: 'open', depth: 0, rate: r, warmupMs: Math.min(warmupMs, 1_000), durationMs, keyBase });
          const rt = histogram();
          const acq = histogram();
          const added = histogram();
          let matched = 0;
          for (let i = 0; i < fixed.samples.length; i += 2) {
            const key = String(fixed.samples[i]).padStart(12, '0');
            const ms = fixed.samples[i + 1]!;
            rt.recordValue(Math.max(1, Math.round(ms * 1000)));
            const a = acqMs.get(key);
            if (a === undefined) continue;
            matched++;
            acq.recordValue(Math.max(1, Math.round(a * 1000)));
            added.recordValue(Math.max(1, Math.round((ms - a) * 1000)));
          }
          rows.push([`fixed ${r}/s: achieved authorizations/s`, `${Math.round(fixed.answered / fixed.seconds).toLocaleString('en-US')}  (${fixed.errors} errors, ${fixed.skipped} not sent: fell behind, ${matched} matched to acquirer times)`]);
          rows.push([`fixed ${r}/s: PSP round trip p50 / p99 ms`, `${pct(rt, 50)} / ${pct(rt, 99)}`]);
          rows.push([`fixed ${r}/s: acquirer side p50 / p99 ms`, `${pct(acq, 50)} / ${pct(acq, 99)}`]);
          rows.push([`fixed ${r}/s: switch-added p50 / p99 ms`, `${pct(added, 50)} / ${pct(added, 99)}`]);
          return { p50: pct(added, 50), p99: pct(added, 99) };
        };
        ({ p50, p99 } = await fixedRate(rate, 0));
        // Beyond its capacity the figures above are queueing: also show the latency at half the saturation rate.
        if (authPerS < rate * 1.1) await fixedRate(Math.max(50, Math.round(authPerS / 2 / 50) * 50), 150_000);
        // A quiet hour: no batch has company, every write waits for its own commit.
        ({ p50: p50Low } = await fixedRate(lowRate, 200_000));
      }
      const st = h.store.stats();
      rows.push(['write streams: intent / answer batches', `${JSON.stringify(pick(st.intent as unknown as Record<string, unknown>))} / ${JSON.stringify(pick(st.answer as unknown as Record<string, unknown>))}`]);
      await h.stop();
    }
    if (only === undefined || only === 'relay') {
      const [relaySimPort] = await load.simulators([{ dialect: 'iso87-ascii-bbitmap', framer: 'binary2' }]);
      const relay = await startRelay(relaySimPort!);
      const r = await load.run({ port: relay.port, connections, mode: 'closed', depth, rate: 0, warmupMs: Math.min(warmupMs, 1_000), durationMs: Math.min(durationMs, 5_000), keyBase: 0 });
      relayPerS = r.answered / r.seconds;
      rows.push(['ceiling: same load through a bare relay, round trips/s', Math.round(relayPerS).toLocaleString('en-US')]);
      rows.push(['ratio switch / relay', (authPerS / relayPerS).toFixed(3)]);
      await relay.close();
    }
  } finally {
    await load.close();
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
    await db.stop();
    rmSync(rulesDir, { recursive: true, force: true });
  }
  rows.unshift(['machine', `${os.cpus().length} cores, node ${process.version}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
  const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  process.stdout.write(JSON.stringify({
    auth_per_s: Number.isFinite(authPerS) ? Math.round(authPerS) : null, relay_per_s: Number.isFinite(relayPerS) ? Math.round(relayPerS) : null,
    ratio: Number.isFinite(authPerS / relayPerS) ? Math.round((authPerS / relayPerS) * 1000) / 1000 : null,
    p50_ms_at_2000: r2(p50), p99_ms_at_2000: r2(p99), p50_ms_at_200: r2(p50Low),
    pg_cpu_us_per_auth: cpu?.postgresUs ?? null, switch_cpu_us_per_auth: cpu?.switchUs ?? null,
  }) + '\n');
}

function pick(s: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['batches', 'requests', 'meanBatch', 'avgBatch', 'maxBatch']) if (k in s) out[k] = s[k];
  return out;
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench:e2e failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
