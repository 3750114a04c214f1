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
import { commitFloor, database, fixedRate, histogram, Load, pct, printTable, saturation, startBenchSwitch, startRelay, type Rows } from './harness.js';
import type { cpuPerOp } from './cpu.js';
import { parseCli } from '../src/cli/args.js';

async function main(): Promise<void> {
  const { values } = parseCli({
    name: 'bench:e2e',
    usage: `usage: npm run bench:e2e [-- --duration 8 --warmup 2 --rate 2000 --low-rate 200 --connections 8 --depth 64 --only switch|saturation|relay]

Authorizations per second and switch-added latency, PSP → switch → simulator → switch → PSP, with durable
holds, beside a bare length-prefix relay; a table, then one JSON line. Database: DATABASE_URL, else the local
server on 127.0.0.1:5432, else an embedded PostgreSQL (a fresh schema, dropped after).
options:
  --duration S      timed seconds per phase (default 8)
  --warmup S        seconds before timing (default 2)
  --rate N          the fixed rate of the latency phase, per second (default 2000)
  --low-rate N      the quiet-hour rate, per second (default 200)
  --connections N   PSP connections (default 8)
  --depth N         requests in flight per connection at saturation (default 64)
  --only WHAT       switch, saturation or relay only
  -h, --help        this text`,
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

  const rows: Rows = [];
  let authPerS = NaN;
  let relayPerS = NaN;
  let p50 = NaN;
  let p99 = NaN;
  let p50Low = NaN;
  let commitP50 = NaN;
  let relayP99 = NaN;
  let cpu: ReturnType<typeof cpuPerOp> | undefined;
  const load = new Load();
  const db = await database();
  try {
    if (only !== 'relay') {
      const b = await startBenchSwitch(load, db.serverUrl);
      try {
        const sat = await saturation(load, b, { connections, depth, warmupMs, durationMs, keyBase: 0 });
        authPerS = sat.perS;
        cpu = sat.cpu;
        rows.push(...sat.rows);
        if (only !== 'saturation') {
          const at = (r: number, keyBase: number) => fixedRate(load, b, { rate: r, connections, warmupMs: Math.min(warmupMs, 1_000), durationMs, keyBase });
          const f = await at(rate, 0);
          ({ p50, p99 } = f);
          rows.push(...f.rows);
          // Beyond its capacity the figures above are queueing: also show the latency at half the saturation rate.
          if (authPerS < rate * 1.1) rows.push(...(await at(Math.max(50, Math.round(authPerS / 2 / 50) * 50), 150_000)).rows);
          // A quiet hour: no batch has company, every write waits for its own commit.
          const low = await at(lowRate, 200_000);
          p50Low = low.p50;
          rows.push(...low.rows);
          // what two durable writes cost at that rate, whatever writes them: the floor under the figure above
          const floor = await commitFloor(db.serverUrl, lowRate);
          commitP50 = floor.p50;
          rows.push([
            `floor at ${lowRate}/s: one durable commit p50 / p99 ms`,
            `${floor.p50} / ${floor.p99}  (×2 per authorization: ${Math.round(floor.p50 * 2000) / 1000} ms)`,
          ]);
        }
        const st = b.h.store.stats();
        rows.push([
          'write streams: intent / answer batches',
          `${JSON.stringify(pick(st.intent as unknown as Record<string, unknown>))} / ${JSON.stringify(pick(st.answer as unknown as Record<string, unknown>))}`,
        ]);
      } finally {
        await b.close();
      }
    }
    if (only === undefined || only === 'relay') {
      const [relaySimPort] = await load.simulators([{ dialect: 'iso87-ascii-bbitmap', framer: 'binary2' }]);
      const relay = await startRelay(relaySimPort!);
      const r = await load.run({
        port: relay.port,
        connections,
        mode: 'closed',
        depth,
        rate: 0,
        warmupMs: Math.min(warmupMs, 1_000),
        durationMs: Math.min(durationMs, 5_000),
        keyBase: 0,
      });
      relayPerS = r.answered / r.seconds;
      rows.push(['ceiling: same load through a bare relay, round trips/s', Math.round(relayPerS).toLocaleString('en-US')]);
      rows.push(['ratio switch / relay', (authPerS / relayPerS).toFixed(3)]);
      // the harness's own latency at the fixed rates (load, relay, simulator: no switch): the floor under the
      // round trips above
      for (const r of [rate, lowRate]) {
        const f = await load.run({
          port: relay.port,
          connections,
          mode: 'open',
          depth: 0,
          rate: r,
          warmupMs: Math.min(warmupMs, 1_000),
          durationMs,
          keyBase: 250_000,
        });
        const rt = histogram();
        for (let i = 1; i < f.samples.length; i += 2) rt.recordValue(Math.max(1, Math.round(f.samples[i]! * 1000)));
        rows.push([`ceiling at ${r}/s: PSP round trip through the relay p50 / p99 ms`, `${pct(rt, 50)} / ${pct(rt, 99)}`]);
        if (r === rate) relayP99 = pct(rt, 99);
      }
      await relay.close();
    }
  } finally {
    await load.close();
    await db.stop();
  }
  printTable(rows);
  const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  process.stdout.write(
    JSON.stringify({
      auth_per_s: Number.isFinite(authPerS) ? Math.round(authPerS) : null,
      relay_per_s: Number.isFinite(relayPerS) ? Math.round(relayPerS) : null,
      ratio: Number.isFinite(authPerS / relayPerS) ? Math.round((authPerS / relayPerS) * 1000) / 1000 : null,
      p50_ms_at_2000: r2(p50),
      p99_ms_at_2000: r2(p99),
      p50_ms_at_200: r2(p50Low),
      commit_p50_ms_at_200: r2(commitP50),
      relay_p99_ms_at_2000: r2(relayP99),
      pg_cpu_us_per_auth: cpu?.postgresUs ?? null,
      switch_cpu_us_per_auth: cpu?.switchUs ?? null,
    }) + '\n',
  );
}

function pick(s: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['batches', 'requests', 'meanBatch', 'avgBatch', 'maxBatch']) if (k in s) out[k] = s[k];
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench:e2e failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
