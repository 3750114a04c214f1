/**
 * npm run bench:cluster [-- --duration 8 --warmup 2 --rate 2000 --connections 8 --depth 32]
 *
 * The switch as `npm run cluster` runs it (src/cluster/cluster.ts): 1 and then 2 instances behind HAProxy,
 * sharing one PostgreSQL and Redis, with zero-latency acquirer simulators and the PSP load in a worker thread
 * of this process. For each: closed-loop authorizations/s, the PSP round trip p99 at a fixed rate, and CPU per
 * authorization of the instances, HAProxy, PostgreSQL and the load. This machine has 2 cores, shared by all of
 * them: the 2-instance throughput is bounded by the cores, not by the switch, so the CPU per authorization is
 * what says whether it scales (docs/scaling.md).
 *
 * Database: DATABASE_URL, else the local server, else an embedded PostgreSQL; a fresh schema per run, dropped
 * after. Redis: REDIS_URL, else 127.0.0.1:6379 (a unique key prefix per run).
 * Prints a table and, as the last line, {"one":{…},"two":{…}}.
 */
import crypto from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { database, histogram, Load, pct, printTable, ROOT, type Rows } from './harness.js';
import { pidsCpuMs, postgresCpuMs, processCpuMs } from './cpu.js';
import { parseCli } from '../src/cli/args.js';
import { startCluster } from '../src/cluster/cluster.js';

interface Figures {
  instances: number;
  auth_per_s: number;
  p99_ms_at_rate: number;
  cpu_us_per_auth: { switch: number; haproxy: number; postgres: number; load: number; total: number };
  wal_bytes_per_auth: number;
}

async function main(): Promise<void> {
  const { values } = parseCli({
    name: 'bench:cluster',
    usage: `usage: npm run bench:cluster [-- --duration 8 --warmup 2 --rate 2000 --connections 8 --depth 32]

Authorizations/s, p99 and CPU per authorization with 1 and with 2 switch instances behind HAProxy
(npm run cluster's layout); a table, then one JSON line.
options:
  --duration S      timed seconds per phase (default 8)
  --warmup S        seconds before timing (default 2)
  --rate N          the fixed rate of the latency phase, per second (default 2000)
  --connections N   PSP connections through HAProxy (default 8)
  --depth N         requests in flight per connection at saturation (default 32)
  -h, --help        this text`,
    options: {
      duration: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      rate: { type: 'string', default: '2000' },
      connections: { type: 'string', default: '8' },
      depth: { type: 'string', default: '32' },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const rate = Number(values.rate);
  const connections = Number(values.connections);
  const depth = Number(values.depth);

  const load = new Load();
  const db = await database();
  const rows: Rows = [];
  const out: Record<string, Figures> = {};
  // zero-latency simulators in the load's thread, the acquirers pointed at them
  const doc = parseYaml(readFileSync(path.join(ROOT, 'rules', 'acquirers.yaml'), 'utf8')) as {
    acquirers: Array<{ id: string; link: { port: number; dialect: string; framer: string } }>;
  };
  const ports = await load.simulators(doc.acquirers.map((a) => ({ dialect: a.link.dialect, framer: a.link.framer })));
  doc.acquirers.forEach((a, i) => (a.link.port = ports[i]!));
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-cluster-'));
  const rulesDir = path.join(work, 'rules');
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  writeFileSync(path.join(rulesDir, 'acquirers.yaml'), stringifyYaml(doc));
  const admin = new pg.Client({ connectionString: db.serverUrl });
  await admin.connect();
  try {
    for (const n of [1, 2]) {
      const schema = `bench_cluster_${crypto.randomBytes(4).toString('hex')}`;
      await admin.query(`create schema ${schema}`);
      const u = new URL(db.serverUrl);
      u.searchParams.set('options', `-c search_path=${schema}`);
      const cfgFile = path.join(work, `config-${n}.json`);
      writeFileSync(
        cfgFile,
        JSON.stringify({
          panHashKey: crypto.randomBytes(32).toString('base64url'),
          rulesDir,
          logLevel: 'silent',
          acquirerTimeoutMs: 10_000,
          admin: { enabled: true, tokens: [{ name: 'bench', role: 'viewer', sha256: crypto.randomBytes(32).toString('hex'), expires: '' }] },
          redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: `bench-${crypto.randomBytes(4).toString('hex')}:` },
        }),
      );
      const cluster = await startCluster({
        instances: n,
        pspPort: 0,
        adminPort: 0,
        root: ROOT,
        workDir: path.join(work, `c${n}`),
        env: { ...process.env, DATABASE_URL: u.toString(), SWITCH_CONFIG: cfgFile },
      });
      try {
        const pids = cluster.instances.map((i) => i.pid);
        let a: number[] = [];
        let b: number[] = [];
        const sample = () => [pidsCpuMs(pids), pidsCpuMs([cluster.haproxyPid]), postgresCpuMs(), processCpuMs()];
        const wal = async () => Number((await admin.query<{ b: string }>('select wal_bytes::text as b from pg_stat_wal')).rows[0]?.b ?? 0);
        let walA = Promise.resolve(0);
        let walB = Promise.resolve(0);
        const ta = setTimeout(() => {
          a = sample();
          walA = wal();
        }, warmupMs);
        const tb = setTimeout(() => {
          b = sample();
          walB = wal();
        }, warmupMs + durationMs);
        const sat = await load.run({ port: cluster.pspPort, connections, mode: 'closed', depth, rate: 0, warmupMs, durationMs, keyBase: 0 });
        clearTimeout(ta);
        clearTimeout(tb);
        if ((sat.codes['00'] ?? 0) / Math.max(1, sat.answered) < 0.99) throw new Error(`${n} instance(s): not approvals: ${JSON.stringify(sat.codes)}`);
        const perS = sat.answered / sat.seconds;
        const us = (i: number) => Math.round((((b[i] ?? 0) - (a[i] ?? 0)) * 1000) / Math.max(1, sat.answered));
        const cpu = { switch: us(0), haproxy: us(1), postgres: us(2), load: us(3), total: 0 };
        const walPerAuth = Math.round(((await walB) - (await walA)) / Math.max(1, sat.answered));
        cpu.total = cpu.switch + cpu.haproxy + cpu.postgres + cpu.load;
        const fixed = await load.run({
          port: cluster.pspPort,
          connections,
          mode: 'open',
          depth: 0,
          rate,
          warmupMs: Math.min(1000, warmupMs),
          durationMs,
          keyBase: 300_000,
        });
        const rt = histogram();
        for (let i = 1; i < fixed.samples.length; i += 2) rt.recordValue(Math.max(1, Math.round(fixed.samples[i]! * 1000)));
        const label = `${n} instance${n > 1 ? 's' : ''}`;
        rows.push([
          `${label}: authorizations/s (closed loop)`,
          `${Math.round(perS).toLocaleString('en-US')}  (${connections} × ${depth} in flight, ${sat.errors} errors)`,
        ]);
        rows.push([
          `${label}: CPU µs per authorization`,
          `switch ${cpu.switch}, HAProxy ${cpu.haproxy}, PostgreSQL ${cpu.postgres}, load + simulators ${cpu.load}; total ${cpu.total} (2 cores: ${Math.round(2e6 / Math.max(1, cpu.total)).toLocaleString('en-US')}/s at most)`,
        ]);
        rows.push([
          `${label}: fixed ${rate}/s achieved, PSP round trip p50 / p99 ms`,
          `${Math.round(fixed.answered / fixed.seconds).toLocaleString('en-US')}/s (${fixed.skipped} not sent), ${pct(rt, 50)} / ${pct(rt, 99)}`,
        ]);
        rows.push([`${label}: WAL bytes per authorization`, walPerAuth.toLocaleString('en-US')]);
        out[n === 1 ? 'one' : 'two'] = {
          instances: n,
          auth_per_s: Math.round(perS),
          p99_ms_at_rate: pct(rt, 99),
          cpu_us_per_auth: cpu,
          wal_bytes_per_auth: walPerAuth,
        };
      } finally {
        await cluster.stop();
        await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
      }
    }
  } finally {
    await admin.end();
    await load.close();
    await db.stop();
    rmSync(work, { recursive: true, force: true });
  }
  printTable(rows);
  process.stdout.write(JSON.stringify({ rate, ...out }) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:cluster failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
