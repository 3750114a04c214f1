/**
 * What the end-to-end benchmarks share (bench/e2e.ts, bench/growth.ts): the PSP load and the acquirer
 * simulators in a worker thread (its own event loop: the main thread runs the switch alone), a bare relay for
 * the ceiling, the database, a switch on a fresh schema with simulators at zero latency, and a saturation
 * phase that also measures CPU per authorization.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
import { startSwitch, type SwitchHandle } from '../src/app/runtime.js';
import { startAcquirerSimulator, type AcquirerSimulator } from '../simulators/acquirer/index.js';
import { PspClient } from '../simulators/psp/client.js';
import { cpuNow, cpuPerOp, pidsCpuMs, type CpuSample } from './cpu.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ── the load (worker thread) ─────────────────────────────────────────────────────────────────────────────

export interface Phase {
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

export interface PhaseResult {
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
      for (let d = 0; d < p.depth; d++)
        loops.push(
          (async () => {
            while (!stop) await fire(c, idx);
          })(),
        );
    });
  } else {
    loops.push(
      new Promise<void>((resolve) => {
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
      }),
    );
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
        sims.push(
          await startAcquirerSimulator({
            dialect: spec.dialect,
            framer: framerByName(spec.framer),
            port: 0,
            control: false,
            journal: false,
            seed: 1,
            behaviour: { defaultResponseCode: '00', rules: [] },
          }),
        );
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

export class Load {
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
export async function startRelay(target: number): Promise<{ port: number; close(): Promise<void> }> {
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
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

export async function database(): Promise<{ serverUrl: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { serverUrl: process.env.DATABASE_URL, stop: async () => undefined };
  const local = 'postgres://postgres@127.0.0.1:5432/test';
  if (await probe(local)) return { serverUrl: local, stop: async () => undefined };
  const db = await resolveDatabaseUrl({ env: {}, dataDir: mkdtempSync(path.join(os.tmpdir(), 'bench-e2e-pg-')) });
  return { serverUrl: db.url, stop: () => db.stop() };
}

export const pct = (h: hdr.Histogram, p: number): number => Math.round(h.getValueAtPercentile(p)) / 1000;
export const histogram = (): hdr.Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

// ── a switch under load ──────────────────────────────────────────────────────────────────────────────────

export type Rows = Array<[string, string]>;

export interface BenchSwitch {
  h: SwitchHandle;
  /** The switch's schema (search_path) on the server. */
  url: string;
  schema: string;
  /** Acquirer time per request, keyed by DE4 (unique per request within a phase). */
  acqMs: Map<string, number>;
  close(): Promise<void>;
}

/**
 * The switch on a fresh schema of the server, its acquirers pointing at zero-latency simulators in the load's
 * thread, checked before anything is timed: one approval with a durable hold.
 */
export async function startBenchSwitch(
  load: Load,
  serverUrl: string,
  o: { schema?: string; keepSchema?: boolean; onStoreBatch?: (i: { stream: string; ms: number; size: number }) => void } = {},
): Promise<BenchSwitch> {
  const doc = parseYaml(readFileSync(path.join(ROOT, 'rules', 'acquirers.yaml'), 'utf8')) as {
    acquirers: Array<{ id: string; link: { port: number; dialect: string; framer: string } }>;
  };
  const ports = await load.simulators(doc.acquirers.map((a) => ({ dialect: a.link.dialect, framer: a.link.framer })));
  doc.acquirers.forEach((a, i) => (a.link.port = ports[i]!));
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'bench-rules-'));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  writeFileSync(path.join(rulesDir, 'acquirers.yaml'), stringifyYaml(doc));
  const schema = o.schema ?? `bench_e2e_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create schema if not exists ${schema}`);
  const u = new URL(serverUrl);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const cfg = loadConfig({
    env: {},
    overrides: {
      database: { url: u.toString(), poolSize: 12 },
      psp: { port: 0 },
      admin: { enabled: false },
      rulesDir,
      logLevel: 'silent',
      acquirerTimeoutMs: 10_000,
      panHashKey: crypto.randomBytes(32).toString('base64url'), // a database that is not the embedded one needs a key
    },
  });
  const h = await startSwitch(cfg, { log: pino({ level: 'silent' }), ...(o.onStoreBatch ? { onStoreBatch: o.onStoreBatch } : {}) });
  const acqMs = new Map<string, number>();
  const request = h.acquirers.request.bind(h.acquirers);
  h.acquirers.request = async (id, msg, services, timeoutMs) => {
    const t0 = performance.now();
    const r = await request(id, msg, services, timeoutMs);
    acqMs.set(msg.getString(4)!, performance.now() - t0);
    return r;
  };
  const probeClient = await PspClient.connect({ port: h.pspPort });
  const stan = String(crypto.randomInt(1_000_000)).padStart(6, '0');
  const res = await probeClient.send(
    new IsoMessage('0100', {
      2: '4111000099999999',
      3: '000000',
      4: '000000999999',
      7: transmissionDateTime(),
      11: stan,
      22: '051',
      41: 'PROBE001',
      42: 'SHOP00000000001',
      49: '978',
    }),
  );
  await probeClient.close();
  const { rows: held } = await h.pool.query<{ state: string }>(
    `select p.state from switch_txn t join ledger_plan p on p.id = t.id where t.psp_terminal = 'PROBE001' and t.psp_stan = $1`,
    [stan],
  );
  if (res.getString(39) !== '00' || held[0]?.state !== 'HOLD') throw new Error(`probe failed: ${res.getString(39)} ${held[0]?.state}`);
  return {
    h,
    url: u.toString(),
    schema,
    acqMs,
    close: async () => {
      await h.stop();
      if (!o.keepSchema) await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
      await admin.end();
      rmSync(rulesDir, { recursive: true, force: true });
    },
  };
}

export interface Saturation {
  perS: number;
  cpu: ReturnType<typeof cpuPerOp> | undefined;
  rows: Rows;
}

/** Closed loop at `connections` × `depth` in flight: authorizations/s, round trips and CPU per authorization. */
export async function saturation(
  load: Load,
  b: BenchSwitch,
  o: { connections: number; depth: number; warmupMs: number; durationMs: number; keyBase: number; label?: string },
): Promise<Saturation> {
  const label = o.label ?? 'saturation';
  const rows: Rows = [];
  // CPU of Postgres, of the switch (this main thread) and of the load + simulators (the worker) over the
  // timed window; and of the backends of the two write streams, each on its own
  let cpuA: CpuSample | undefined;
  let cpuB: CpuSample | undefined;
  const { rows: backends } = await b.h.pool.query<{ pid: number; app: string }>(
    `select pid, application_name as app from pg_stat_activity where application_name like 'iso8583-switch %'`,
  );
  const streamCpu = () => Object.fromEntries(['intents', 'answers'].map((k) => [k, pidsCpuMs(backends.filter((x) => x.app.endsWith(k)).map((x) => x.pid))]));
  let sA: Record<string, number> = {};
  let sB: Record<string, number> = {};
  const ta = setTimeout(() => {
    cpuA = cpuNow();
    sA = streamCpu();
  }, o.warmupMs);
  const tb = setTimeout(() => {
    cpuB = cpuNow();
    sB = streamCpu();
  }, o.warmupMs + o.durationMs);
  const sat = await load.run({
    port: b.h.pspPort,
    connections: o.connections,
    mode: 'closed',
    depth: o.depth,
    rate: 0,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    keyBase: o.keyBase,
  });
  clearTimeout(ta);
  clearTimeout(tb);
  const perS = sat.answered / sat.seconds;
  const approvedShare = (sat.codes['00'] ?? 0) / Math.max(1, sat.answered);
  if (approvedShare < 0.99) throw new Error(`${label} run was not approvals: ${JSON.stringify(sat.codes)}`);
  rows.push([
    `${label}: authorizations/s (closed loop)`,
    `${Math.round(perS).toLocaleString('en-US')}  (${o.connections} connections × ${o.depth} in flight, ${sat.errors} errors)`,
  ]);
  const rt = histogram();
  for (let i = 1; i < sat.samples.length; i += 2) rt.recordValue(Math.max(1, Math.round(sat.samples[i]! * 1000)));
  rows.push([`${label}: PSP round trip p50 / p99 ms`, `${pct(rt, 50)} / ${pct(rt, 99)}`]);
  let cpu: Saturation['cpu'];
  if (cpuA && cpuB) {
    cpu = cpuPerOp(cpuA, cpuB, sat.answered);
    const per = (k: string) => Math.round(((((sB[k] ?? 0) - (sA[k] ?? 0)) * 1000) / Math.max(1, sat.answered)) * 10) / 10;
    rows.push([
      `${label}: CPU µs per authorization`,
      `PostgreSQL ${cpu.postgresUs} (intent stream ${per('intents')}, answer stream ${per('answers')}), switch ${cpu.switchUs}, load + simulators ${cpu.loadUs}`,
    ]);
  }
  return { perS, cpu, rows };
}

/** Open loop at `rate`/s: PSP round trip, the acquirer side as the switch sees it, and switch-added latency (matched per request). */
export async function fixedRate(
  load: Load,
  b: BenchSwitch,
  o: { rate: number; connections: number; warmupMs: number; durationMs: number; keyBase: number },
): Promise<{ p50: number; p99: number; rows: Rows }> {
  b.acqMs.clear();
  const fixed = await load.run({
    port: b.h.pspPort,
    connections: o.connections,
    mode: 'open',
    depth: 0,
    rate: o.rate,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    keyBase: o.keyBase,
  });
  const rt = histogram();
  const acq = histogram();
  const added = histogram();
  let matched = 0;
  for (let i = 0; i < fixed.samples.length; i += 2) {
    const key = String(fixed.samples[i]).padStart(12, '0');
    const ms = fixed.samples[i + 1]!;
    rt.recordValue(Math.max(1, Math.round(ms * 1000)));
    const a = b.acqMs.get(key);
    if (a === undefined) continue;
    matched++;
    acq.recordValue(Math.max(1, Math.round(a * 1000)));
    added.recordValue(Math.max(1, Math.round((ms - a) * 1000)));
  }
  const r = o.rate;
  return {
    p50: pct(added, 50),
    p99: pct(added, 99),
    rows: [
      [
        `fixed ${r}/s: achieved authorizations/s`,
        `${Math.round(fixed.answered / fixed.seconds).toLocaleString('en-US')}  (${fixed.errors} errors, ${fixed.skipped} not sent: fell behind, ${matched} matched to acquirer times)`,
      ],
      [`fixed ${r}/s: PSP round trip p50 / p99 ms`, `${pct(rt, 50)} / ${pct(rt, 99)}`],
      [`fixed ${r}/s: acquirer side p50 / p99 ms`, `${pct(acq, 50)} / ${pct(acq, 99)}`],
      [`fixed ${r}/s: switch-added p50 / p99 ms`, `${pct(added, 50)} / ${pct(added, 99)}`],
    ],
  };
}

export function printTable(rows: Rows): void {
  rows.unshift(['machine', `${os.cpus().length} cores, node ${process.version}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}

/**
 * The floor under switch-added latency at a low rate: one durable single-row insert (a commit with its WAL
 * flush) every 1000/rate ms on an otherwise idle connection, as each of the switch's two durable writes is at
 * that rate. Returns the p50 and p99 in ms.
 */
export async function commitFloor(serverUrl: string, rate: number, n = 400): Promise<{ p50: number; p99: number }> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  const table = `bench_commit_floor_${crypto.randomBytes(3).toString('hex')}`;
  try {
    await c.query(`create table ${table} (id bigint, at timestamptz default now())`);
    const h = histogram();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await c.query({ name: 'floor', text: `insert into ${table} (id) values ($1)`, values: [i] });
      if (i >= 20) h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      await new Promise((r) => setTimeout(r, 1000 / rate));
    }
    return { p50: pct(h, 50), p99: pct(h, 99) };
  } finally {
    await c.query(`drop table if exists ${table}`).catch(() => undefined);
    await c.end();
  }
}
