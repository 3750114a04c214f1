/**
 * npm run load -- [--rate 500] [--duration 10] … (see USAGE)
 *
 * Closed loop (default): each connection keeps `depth` requests in flight. Open loop (--rate): requests are
 * started at the target rate over all connections, at most `depth` in flight per connection (the rest are
 * counted as skipped). Each request carries a fresh test card (`testCards()`), as bench:e2e does: one card
 * sent over and over is declined 59 by risk velocity after 30 an hour; `--pan` sends one fixed card. A
 * progress line on stderr while running; then a table, and a last line of JSON.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { isSwitchError } from '../../src/errors.js';
import { framerByName } from '../../src/wire/framer.js';
import { loadDialect } from '../../src/iso8583/index.js';
import { maskPan } from '../../src/iso8583/mask.js';
import { parseCli, usageError } from '../../src/cli/args.js';
import { PspClient } from './client.js';
import { buildAuthorization, CONNECTION_FLAGS, CONNECTION_USAGE, testCards } from './common.js';

export const LOAD_USAGE = `usage: npm run load -- [--rate N | --depth N] [--duration S] [--connections N] [options]

Sends authorizations to the switch (npm start's PSP port by default) for a while and prints throughput,
latency and the answer codes. Each request carries a fresh test card (411111******1111 series), so with the
built-in simulators every answer is 00; --pan sends one card every time (after 30 in an hour risk declines
it, 59).

options:
  --connections N      PSP connections (default 4)
  --depth N            requests in flight per connection (default 32); the cap in open loop
  --rate N             open loop at N requests/s over all connections (default 0: closed loop)
  --duration S         seconds (default 10)
  --pan N              one fixed card for every request (default: a fresh test card per request)
${CONNECTION_USAGE}
  --terminal-prefix P  DE41 is P + the connection number (default LD)
  --no-progress        no progress line on stderr
  -h, --help           this text
exit codes: 0 done, 2 could not connect or a usage error
`;

export const LOAD_FLAGS = {
  ...CONNECTION_FLAGS,
  connections: { type: 'string', default: '4' },
  depth: { type: 'string', default: '32' },
  rate: { type: 'string', default: '0' },
  duration: { type: 'string', default: '10' },
  'terminal-prefix': { type: 'string', default: 'LD' },
  'no-progress': { type: 'boolean', default: false },
} as const;

export interface LoadOptions {
  host: string;
  port: number;
  dialect: string;
  framer: string;
  connections: number;
  depth: number;
  /** Requests per second over all connections; 0 = closed loop. */
  rate: number;
  durationS: number;
  timeoutMs: number;
  /** One fixed card; without it a fresh test card per request. */
  pan?: string;
  /** Start of the fresh cards' sequence (default random; tests seed it). */
  cardSeed?: number;
  amount?: string;
  currency?: string;
  merchant?: string;
  terminalPrefix: string;
  /** Progress line on stderr (default true for the CLI). */
  progress: boolean;
}

export interface LoadResult {
  sent: number;
  answered: number;
  timeouts: number;
  errors: number;
  skipped: number;
  duration_s: number;
  throughput_per_s: number;
  latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  response_codes: Record<string, number>;
  connections: number;
  depth: number;
  rate: number;
  /** "fresh": a new test card per request; else the masked fixed card (--pan). */
  cards: string;
}

export function parseLoadArgs(argv: string[]): LoadOptions {
  const { values } = parseArgs({ args: argv, options: LOAD_FLAGS, strict: true });
  const num = (s: string, name: string, min: number): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const o: LoadOptions = {
    host: values.host,
    port: num(values.port, 'port', 1),
    dialect: values.dialect,
    framer: values.framer,
    connections: Math.floor(num(values.connections, 'connections', 1)),
    depth: Math.floor(num(values.depth, 'depth', 1)),
    rate: num(values.rate, 'rate', 0),
    durationS: num(values.duration, 'duration', 0.1),
    timeoutMs: num(values.timeout, 'timeout', 1),
    terminalPrefix: values['terminal-prefix'],
    progress: !values['no-progress'],
  };
  for (const k of ['pan', 'amount', 'currency', 'merchant'] as const) {
    const v = values[k];
    if (v !== undefined) o[k] = v;
  }
  return o;
}

const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;

export async function runLoad(o: LoadOptions, progress: (line: string) => void = () => undefined): Promise<LoadResult> {
  const codec = loadDialect(o.dialect);
  const framer = framerByName(o.framer);
  const clients = await Promise.all(
    Array.from({ length: o.connections }, () => PspClient.connect({ host: o.host, port: o.port, codec, framer, timeoutMs: o.timeoutMs })),
  );
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  const codes: Record<string, number> = {};
  let sent = 0;
  let answered = 0;
  let timeouts = 0;
  let errors = 0;
  let skipped = 0;
  const start = performance.now();
  const endAt = start + o.durationS * 1000;
  let stopping = false;

  const nextCard = testCards(...(o.cardSeed !== undefined ? [o.cardSeed] : []));
  const fire = (c: PspClient, idx: number): Promise<void> => {
    const req = buildAuthorization({
      stan: c.stan.next(),
      terminal: `${o.terminalPrefix}${String(idx).padStart(8 - o.terminalPrefix.length, '0')}`,
      pan: o.pan ?? nextCard(),
      ...(o.amount ? { amount: o.amount } : {}),
      ...(o.currency ? { currency: o.currency } : {}),
      ...(o.merchant ? { merchant: o.merchant } : {}),
    });
    const t0 = performance.now();
    sent++;
    return c.send(req).then(
      (r) => {
        answered++;
        hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        const rc = r.getString(39) ?? 'none';
        codes[rc] = (codes[rc] ?? 0) + 1;
      },
      (e: unknown) => {
        if (isSwitchError(e, 'SW_ERR_LINK_TIMEOUT')) timeouts++;
        else errors++;
      },
    );
  };

  const ticker = setInterval(() => {
    const el = (performance.now() - start) / 1000;
    const frac = Math.min(1, el / o.durationS);
    const bar = '#'.repeat(Math.round(frac * 20)).padEnd(20, '-');
    progress(
      `[${bar}] ${el.toFixed(1)}/${o.durationS}s  sent ${sent}  ok ${answered}  timeouts ${timeouts}  errors ${errors}  ${Math.round(answered / Math.max(el, 0.001))}/s  p99 ${round(hist.getValueAtPercentile(99) / 1000)} ms`,
    );
  }, 500);

  const loops: Promise<void>[] = [];
  if (o.rate <= 0) {
    // closed loop: `depth` workers per connection
    clients.forEach((c, idx) => {
      for (let d = 0; d < o.depth; d++) {
        loops.push(
          (async () => {
            while (!stopping && !c.closed && performance.now() < endAt) await fire(c, idx);
          })(),
        );
      }
    });
  } else {
    loops.push(
      new Promise<void>((resolve) => {
        const inflight: Promise<void>[] = [];
        let due = 0;
        let last = performance.now();
        let rr = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          if (now >= endAt || stopping) {
            clearInterval(timer);
            void Promise.all(inflight).then(() => resolve());
            return;
          }
          due += ((now - last) / 1000) * o.rate;
          last = now;
          while (due >= 1) {
            due--;
            const idx = rr++ % clients.length;
            const c = clients[idx]!;
            if (c.closed || c.inFlight >= o.depth) {
              skipped++;
              continue;
            }
            const p = fire(c, idx);
            inflight.push(p);
          }
          if (inflight.length > 10_000) inflight.splice(0, inflight.length - 10_000);
        }, 5);
      }),
    );
  }
  await Promise.all(loops);
  stopping = true;
  clearInterval(ticker);
  const dur = (performance.now() - start) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  const pct = (p: number): number => round(hist.getValueAtPercentile(p) / 1000, 3);
  return {
    sent,
    answered,
    timeouts,
    errors,
    skipped,
    duration_s: round(dur, 3),
    throughput_per_s: round(answered / dur, 1),
    latency_ms: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: round(hist.maxValue / 1000, 3), mean: round(hist.mean / 1000, 3) },
    response_codes: codes,
    connections: o.connections,
    depth: o.depth,
    rate: o.rate,
    cards: o.pan ? maskPan(o.pan) : 'fresh',
  };
}

export function formatLoadResult(r: LoadResult): string {
  const rows: [string, string][] = [
    ['mode', r.rate > 0 ? `open loop, ${r.rate}/s target, ≤${r.depth} in flight per connection` : `closed loop, ${r.connections} × ${r.depth}`],
    [
      'cards',
      r.cards === 'fresh'
        ? 'a fresh test card per request (411111******1111 series; --pan for one card)'
        : `one card, ${r.cards} (--pan): risk declines it 59 after 30 in an hour`,
    ],
    ['duration', `${r.duration_s} s`],
    ['sent / answered', `${r.sent} / ${r.answered}`],
    ['timeouts / errors / skipped', `${r.timeouts} / ${r.errors} / ${r.skipped}`],
    ['throughput', `${r.throughput_per_s} answers/s`],
    [
      'latency p50 / p90 / p99 / p99.9 / max',
      `${r.latency_ms.p50} / ${r.latency_ms.p90} / ${r.latency_ms.p99} / ${r.latency_ms.p999} / ${r.latency_ms.max} ms`,
    ],
    [
      'response codes',
      Object.entries(r.response_codes)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') || '-',
    ],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

async function main(): Promise<void> {
  parseCli({ name: 'load', usage: LOAD_USAGE, options: LOAD_FLAGS }); // --help, unknown options
  let o: LoadOptions;
  try {
    o = parseLoadArgs(process.argv.slice(2));
  } catch (e) {
    return usageError({ name: 'load', usage: LOAD_USAGE }, e instanceof Error ? e.message : String(e));
  }
  try {
    const tty = process.stderr.isTTY;
    const r = await runLoad(o, o.progress ? (line) => process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`) : undefined);
    if (o.progress && tty) process.stderr.write('\n');
    process.stdout.write(`${formatLoadResult(r)}\n${JSON.stringify(r)}\n`);
  } catch (e) {
    process.stderr.write(`load failed: ${isSwitchError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();
