/**
 * Durable holds per second: group commit vs one transaction per hold, same run, same database,
 * synchronous_commit on. Database: DATABASE_URL, else the local server on 127.0.0.1:5432, else an embedded
 * server. Each mode runs in its own fresh schema with the same accounts and the same load shape:
 * CONCURRENCY callers each placing payment holds back to back for SECONDS.
 *
 *   npm run bench:ledger                      (defaults: 5 s per mode, 1024 callers: 10k holds/s × ~100 ms per authorization in flight)
 *   BENCH_SECONDS=10 BENCH_CONCURRENCY=2048 BENCH_SINGLE_CONNECTIONS=1,4,16 npm run bench:ledger
 *
 * Prints a table and, as the last line, {"group_holds_per_s":…,"single_holds_per_s":…,"ratio":…}.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { createLedger, type Ledger } from '../src/ledger/ledger.js';
import { loadFeeSchedule } from '../src/ledger/fees.js';
import { createPool, probe, redactUrl, startEmbeddedPostgres, tmpDataDir } from '../src/store/postgres.js';
import { parseCli } from '../src/cli/args.js';

parseCli({
  name: 'bench:ledger',
  usage: `usage: npm run bench:ledger

Durable holds per second with group commit vs one transaction per hold, same run, same database
(DATABASE_URL, else the local server on 127.0.0.1:5432, else an embedded one); a table, then one JSON line.
environment: BENCH_SECONDS (5) per mode, BENCH_CONCURRENCY (1024) callers, BENCH_SINGLE_CONNECTIONS (1,8),
  BENCH_GROUP_IN_FLIGHT (1)
options: -h, --help   this text`,
  options: {},
});

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1024);
// The baseline runs with each of these connection counts and the best one is the figure (few connections avoid
// hot-row lock convoys on the acquirer and fees accounts; more overlap WAL flushes).
const SINGLE_CONNECTIONS = (process.env.BENCH_SINGLE_CONNECTIONS ?? '1,8')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const GROUP_IN_FLIGHT = Number(process.env.BENCH_GROUP_IN_FLIGHT ?? 1);
const MERCHANTS = 50;

async function server(): Promise<{ url: string; source: string; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, source: 'DATABASE_URL', stop: async () => undefined };
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  if (await probe(local)) return { url: local, source: 'local 127.0.0.1:5432', stop: async () => undefined };
  const h = await startEmbeddedPostgres({ dataDir: tmpDataDir(), ephemeral: true });
  return { url: h.url, source: 'embedded', stop: () => h.stop() };
}

/** CPU seconds used so far by the server backends of our pool (local server only; NaN when unreadable). */
async function backendCpu(pool: pg.Pool, app: string): Promise<number> {
  const { rows } = await pool.query('select pid from pg_stat_activity where application_name = $1', [app]);
  let ticks = 0;
  for (const r of rows) {
    try {
      const f = fs.readFileSync(`/proc/${r.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      return Number.NaN;
    }
  }
  return ticks / 100;
}

function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}${process.env.BENCH_PG_OPTIONS ? ` ${process.env.BENCH_PG_OPTIONS}` : ''}`);
  return u.toString();
}

interface ModeResult {
  mode: string;
  holds: number;
  seconds: number;
  perS: number;
  batches: number;
  avgBatch: number;
  checkOk: boolean;
  nodeCpuUsPerHold: number;
  pgCpuUsPerHold: number;
}

async function runMode(baseUrl: string, mode: 'group' | 'single', conns = 1): Promise<ModeResult> {
  const schema = `bench_ledger_${mode}_${process.pid}`;
  const admin = new pg.Client(baseUrl);
  await admin.connect();
  await admin.query(`drop schema if exists ${schema} cascade; create schema ${schema}`);
  const app = `bench-ledger-${mode}-${process.pid}`;
  const pool = createPool(withSchema(baseUrl, schema), { max: mode === 'group' ? 4 : conns + 2, applicationName: app });
  try {
    const sc = await pool.query(`select current_setting('synchronous_commit') as sc, current_setting('fsync') as f`);
    if (sc.rows[0].sc !== 'on' || sc.rows[0].f !== 'on') throw new Error(`not durable: synchronous_commit=${sc.rows[0].sc} fsync=${sc.rows[0].f}`);
    const ledger: Ledger = await createLedger({
      pool,
      fees: loadFeeSchedule(),
      ...(mode === 'group' ? { maxWaitMs: 1, maxBatch: 1024, maxInFlight: GROUP_IN_FLIGHT } : { maxWaitMs: 0, maxBatch: 1, maxInFlight: conns }),
    });
    // Input check before timing: one hold and its answer.
    const probeHold = await ledger.hold('probe', { acquirer: 'acq-a', terminal: 'T0000001', merchant: 'm0', currency: 978, amount: 10_000n });
    if (probeHold.fee !== 125n) throw new Error(`fee schedule not as expected: ${String(probeHold.fee)}`);
    for (let m = 0; m < MERCHANTS; m++) {
      await ledger.hold(`warm-${m}`, { acquirer: 'acq-a', terminal: 'T0000002', merchant: `m${m}`, currency: 978, amount: 100n });
    }
    const run = crypto.randomBytes(3).toString('hex');
    let n = 0;
    let stop = false;
    const worker = async (w: number) => {
      let i = 0;
      while (!stop) {
        await ledger.hold(`${run}-${w}-${i++}`, {
          acquirer: 'acq-a',
          terminal: 'T0000002',
          merchant: `m${(w + i) % MERCHANTS}`,
          currency: 978,
          amount: BigInt(100 + ((w * 7919 + i) % 50_000)),
        });
        n++;
      }
    };
    const before = ledger.stats();
    const cpu0 = process.cpuUsage();
    const pgCpu0 = await backendCpu(pool, app);
    const t0 = performance.now();
    const workers = Array.from({ length: CONCURRENCY }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    stop = true;
    const counted = n;
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(workers);
    // CPU per hold over everything placed, including the holds still in flight at the stop
    const cpu = process.cpuUsage(cpu0);
    const pgCpu = (await backendCpu(pool, app)) - pgCpu0;
    const after = ledger.stats();
    await ledger.close();
    const check = await ledger.check();
    const plans = await pool.query(`select count(*)::int as c from ledger_plan where id like $1`, [`${run}-%`]);
    if (plans.rows[0].c !== n) throw new Error(`acknowledged ${n} holds but found ${plans.rows[0].c}`);
    const batches = after.batches - before.batches;
    return {
      mode: mode === 'group' ? `group commit (1 ms, ≤1024/tx, ${GROUP_IN_FLIGHT} in flight)` : `one tx per hold (${conns} connection${conns === 1 ? '' : 's'})`,
      holds: counted,
      seconds,
      perS: counted / seconds,
      batches,
      avgBatch: (after.requests - before.requests) / Math.max(1, batches),
      checkOk: check.ok,
      nodeCpuUsPerHold: (cpu.user + cpu.system) / Math.max(1, n),
      pgCpuUsPerHold: (pgCpu * 1e6) / Math.max(1, n),
    };
  } finally {
    await pool.end();
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}

const srv = await server();
try {
  console.log(`ledger bench: ${srv.source} (${redactUrl(srv.url)}), ${CONCURRENCY} callers, ${SECONDS} s per mode, synchronous_commit=on`);
  // BENCH_ONLY=group|single for profiling one mode; the figures need both.
  const only = process.env.BENCH_ONLY;
  const singles: ModeResult[] = [];
  if (only !== 'group') for (const c of SINGLE_CONNECTIONS) singles.push(await runMode(srv.url, 'single', c));
  const single = singles.length ? singles.reduce((a, b) => (b.perS > a.perS ? b : a)) : undefined;
  const group = only === 'single' ? undefined : await runMode(srv.url, 'group');
  if (!single || !group) {
    console.log(JSON.stringify(single ?? group));
    process.exit(0);
  }
  const rows = [group, ...singles];
  console.log('');
  console.log(
    'mode'.padEnd(48) +
      'holds'.padStart(10) +
      'holds/s'.padStart(12) +
      'tx'.padStart(10) +
      'avg/tx'.padStart(9) +
      'node µs/hold'.padStart(14) +
      'pg µs/hold'.padStart(12) +
      '  check',
  );
  for (const r of rows) {
    console.log(
      r.mode.padEnd(48) +
        String(r.holds).padStart(10) +
        r.perS.toFixed(0).padStart(12) +
        String(r.batches).padStart(10) +
        r.avgBatch.toFixed(1).padStart(9) +
        r.nodeCpuUsPerHold.toFixed(0).padStart(14) +
        (Number.isNaN(r.pgCpuUsPerHold) ? '-' : r.pgCpuUsPerHold.toFixed(0)).padStart(12) +
        `  ${r.checkOk ? 'ok' : 'FAILED'}`,
    );
  }
  console.log(
    JSON.stringify({
      group_holds_per_s: Math.round(group.perS),
      single_holds_per_s: Math.round(single.perS),
      ratio: Number((group.perS / single.perS).toFixed(2)),
    }),
  );
  if (!rows.every((r) => r.checkOk)) process.exitCode = 1;
} finally {
  await srv.stop();
}
