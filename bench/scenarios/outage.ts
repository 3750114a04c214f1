/**
 * `npm run bench:outage`: the same traffic routed three ways while acquirers misbehave, over real links to
 * real simulators (one simulator triple per strategy, so the strategies do not share load):
 *   static  a fixed priority list (acq-a, then acq-b, then acq-c), failing over only on fast failures;
 *   engine  our routing engine with the failure detector, breakers and success rate, as the switch uses it;
 *   oracle  the priority list with the outage schedule known in advance (it never sends to a dead acquirer).
 * Schedule: after LEAD_S seconds acq-a stops answering for OUTAGE_S seconds, then recovers; at the same
 * moment acq-b's latency doubles for the rest of the run. A request without an answer within the
 * acquirer timeout is lost (the PSP would get 91). Traffic: RATE authorizations per second, all approvable.
 * Env: OUTAGE_S (30), LEAD_S (5), TAIL_S (10), RATE (200), TIMEOUT_MS (1000), SLOW_MS (150: a call running longer
 * counts as failing for the detector, ~5x the acquirers' normal latency), RECENT_MS (500: the detector's fast window).
 */
import { loadDialect, IsoMessage } from '../../src/iso8583/index.js';
import { AcquirerLink, transmissionDateTime } from '../../src/net/index.js';
import { framerByName } from '../../src/wire/index.js';
import { isSwitchError } from '../../src/errors.js';
import { startAcquirerSimulator, type AcquirerSimulator } from '../../simulators/acquirer/index.js';
import { loadRuleSet } from '../../src/routing/rules-loader.js';
import { compileRuleSet } from '../../src/routing/compiler.js';
import { RoutingEngine } from '../../src/routing/engine.js';
import { MemoryFailureDetector } from '../../src/routing/detector.js';
import { LinkBreakers } from '../../src/routing/breakers.js';
import { SuccessRateTracker } from '../../src/routing/success-rate.js';
import type { RuleSet, RuleFiles } from '../../src/routing/types.js';
import { parseCli } from '../../src/cli/args.js';

parseCli({
  name: 'bench:outage',
  usage: `usage: npm run bench:outage

Approval rate while acquirer acq-a goes silent and acq-b slows down: static priority vs the routing engine vs
an oracle, over real links to real simulators; a table, then one JSON line.
environment: OUTAGE_S (30), LEAD_S (5), TAIL_S (10), RATE (200), TIMEOUT_MS (1000), SLOW_MS (150), RECENT_MS (500)
options: -h, --help   this text`,
  options: {},
});

const OUTAGE_S = Number(process.env.OUTAGE_S ?? 30);
const LEAD_S = Number(process.env.LEAD_S ?? 5);
const TAIL_S = Number(process.env.TAIL_S ?? 10);
const RATE = Number(process.env.RATE ?? 200);
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 1000);
const SLOW_MS = Number(process.env.SLOW_MS ?? 150);
const RECENT_MS = Number(process.env.RECENT_MS ?? 500);
const ACQUIRERS = ['acq-a', 'acq-b', 'acq-c'] as const;
const TERMINAL: Record<string, string> = { 'acq-a': 'a-eur-1', 'acq-b': 'b-eur-1', 'acq-c': 'c-eur-1' };
const BASE_LATENCY: Record<string, number> = { 'acq-a': 15, 'acq-b': 20, 'acq-c': 30 };

type Strategy = 'static' | 'engine' | 'oracle';
interface Tally {
  total: number;
  approved: number;
  lost: number;
  outageTotal: number;
  outageLost: number;
  outageApproved: number;
}

/** The rules of rules/ with one routing rule: all three acquirers' EUR terminals, by priority. */
function benchRules(): RuleSet {
  const base = loadRuleSet();
  const files: RuleFiles = JSON.parse(JSON.stringify(base.files)) as RuleFiles;
  const terms = files.terminals.terminals;
  if (!terms.some((t) => t.id === 'c-eur-1')) {
    terms.push({
      id: 'c-eur-1',
      acquirer: 'acq-c',
      terminal_id: 'TC000001',
      merchant_id: 'MC0000000000001',
      currencies: ['978'],
      limits: { max_minor: 10_000_000 },
      fee_plan: 'standard',
      three_ds: false,
      risk_coverage: 'high',
    });
  }
  files.routing = {
    rules: [{ id: 'bench-default', default: true, then: { terminals: ACQUIRERS.map((a, i) => ({ terminal: TERMINAL[a]!, priority: i + 1, weight: 1 })) } }],
  };
  files.risk = { default_level: 'low' };
  return { files, hash: 'bench' };
}

interface Side {
  sims: Map<string, AcquirerSimulator>;
  links: Map<string, AcquirerLink>;
  tally: Tally;
}

async function startSide(): Promise<Side> {
  const sims = new Map<string, AcquirerSimulator>();
  const links = new Map<string, AcquirerLink>();
  for (const a of ACQUIRERS) {
    const sim = await startAcquirerSimulator({
      dialect: 'iso87-binary',
      framer: framerByName('binary2'),
      control: false,
      journal: false,
      behaviour: { latency: { distribution: 'uniform', minMs: BASE_LATENCY[a]! * 0.8, maxMs: BASE_LATENCY[a]! * 1.2 } },
    });
    const link = new AcquirerLink({
      name: a,
      host: sim.host,
      port: sim.port,
      codec: loadDialect('iso87-binary'),
      framer: framerByName('binary2'),
      connections: 2,
      defaultTimeoutMs: TIMEOUT_MS,
      echoIdleMs: 0,
      readTimeoutMs: 0,
      maxInFlight: 50_000,
    });
    link.onUnmatched(() => undefined); // late answers to timed-out requests are expected here
    link.start();
    await link.waitReady(1, 5000);
    sims.set(a, sim);
    links.set(a, link);
  }
  return { sims, links, tally: { total: 0, approved: 0, lost: 0, outageTotal: 0, outageLost: 0, outageApproved: 0 } };
}

let stan = 0;
function auth(terminalId: string): IsoMessage {
  stan = (stan % 999_999) + 1;
  return new IsoMessage('0100', {
    2: '4761739001010119',
    3: '000000',
    4: '000000001000',
    7: transmissionDateTime(),
    11: String(stan).padStart(6, '0'),
    41: terminalId,
    42: 'MB0000000000001',
    49: '978',
  });
}

async function main(): Promise<void> {
  const rules = compileRuleSet(benchRules());
  const sides: Record<Strategy, Side> = { static: await startSide(), engine: await startSide(), oracle: await startSide() };
  const detector = new MemoryFailureDetector({ defaultTimeoutMs: SLOW_MS, recentMs: RECENT_MS });
  const breakers = new LinkBreakers({ volumeThreshold: 20 });
  const successRate = new SuccessRateTracker();
  const engine = new RoutingEngine({ rules, health: detector, breakers, successRate });
  const t0 = Date.now();
  const outageStart = t0 + LEAD_S * 1000;
  const outageEnd = outageStart + OUTAGE_S * 1000;
  const end = outageEnd + TAIL_S * 1000;
  const inOutage = (t: number) => t >= outageStart && t < outageEnd;

  // The schedule, applied to every side at once.
  const schedule = [
    setTimeout(() => {
      for (const s of Object.values(sides)) {
        s.sims.get('acq-a')!.setBehaviour({ faults: { neverAnswer: 1 } });
        s.sims.get('acq-b')!.setBehaviour({ latency: { distribution: 'uniform', minMs: BASE_LATENCY['acq-b']! * 1.6, maxMs: BASE_LATENCY['acq-b']! * 2.4 } });
      }
    }, outageStart - Date.now()),
    setTimeout(() => {
      for (const s of Object.values(sides)) s.sims.get('acq-a')!.setBehaviour({ faults: { neverAnswer: 0 } });
    }, outageEnd - Date.now()),
  ];

  const send = async (
    side: Side,
    order: readonly string[],
    at: number,
    hooks?: { start(acq: string): void; end(acq: string, ok: boolean, kind: 'answer' | 'timeout' | 'fast'): void },
  ): Promise<void> => {
    side.tally.total++;
    const outage = inOutage(at);
    if (outage) side.tally.outageTotal++;
    for (const acq of order) {
      const terminalId = rules.terminals.get(TERMINAL[acq]!)!.terminalId;
      hooks?.start(acq);
      try {
        const res = await side.links.get(acq)!.request(auth(terminalId), { timeoutMs: TIMEOUT_MS });
        hooks?.end(acq, true, 'answer');
        if (res.getString(39) === '00') {
          side.tally.approved++;
          if (outage) side.tally.outageApproved++;
        }
        return;
      } catch (e) {
        const code = isSwitchError(e) ? e.code : '';
        if (code === 'SW_ERR_LINK_TIMEOUT' || code === 'SW_ERR_LINK_CONNECTION_LOST') {
          hooks?.end(acq, false, 'timeout');
          break; // sent and unanswered: lost (the switch would queue a reversal and answer 91)
        }
        hooks?.end(acq, false, 'fast'); // never left: next candidate
      }
    }
    side.tally.lost++;
    if (outage) side.tally.outageLost++;
  };

  const pending: Promise<void>[] = [];
  const interval = 1000 / RATE;
  let next = Date.now();
  let progressAt = 0;
  while (Date.now() < end) {
    const now = Date.now();
    if (now < next) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - now)));
      continue;
    }
    next += interval;
    const at = Date.now();
    // static
    pending.push(send(sides.static, ACQUIRERS, at));
    // oracle: skips acq-a exactly during the outage
    pending.push(send(sides.oracle, inOutage(at) ? ['acq-b', 'acq-c'] : ACQUIRERS, at));
    // engine: decide, then report outcomes to the detector and success-rate tracker like the switch does
    pending.push(
      engine
        .decide({
          bin: '47617390',
          cardToken: `card-${at % 997}`,
          amountMinor: 1000,
          currency: '978',
          merchantId: 'SHOP00000000001',
          psp: 'psp-alpha',
          at: new Date(at),
        })
        .then((d) => {
          if (d.kind !== 'route') {
            sides.engine.tally.total++;
            sides.engine.tally.lost++;
            return;
          }
          const order = d.routes.map((r) => r.acquirer);
          const tokens = new Map<string, ReturnType<typeof detector.start>>();
          return send(sides.engine, order, at, {
            start: (acq) => tokens.set(acq, detector.start([acq, TERMINAL[acq]!], SLOW_MS)),
            end: (acq, ok, kind) => {
              const token = tokens.get(acq)!;
              if (ok) detector.finish(token);
              else detector.fail(token, kind === 'fast' ? 'fast' : 'timeout');
              successRate.record(TERMINAL[acq]!, ok);
            },
          });
        }),
    );
    if (pending.length > 20_000) pending.splice(0, 10_000);
    if (at - progressAt > 1000) {
      progressAt = at;
      process.stderr.write(`\r${Math.round((at - t0) / 1000)}s / ${Math.round((end - t0) / 1000)}s  ${inOutage(at) ? 'OUTAGE' : '      '}   `);
    }
  }
  await Promise.allSettled(pending);
  await new Promise((r) => setTimeout(r, TIMEOUT_MS + 200));
  process.stderr.write('\n');
  schedule.forEach(clearTimeout);

  const rate = (t: Tally) => t.approved / Math.max(1, t.total);
  const rows: [Strategy, Tally][] = [
    ['static', sides.static.tally],
    ['engine', sides.engine.tally],
    ['oracle', sides.oracle.tally],
  ];
  console.log(
    `outage scenario: ${RATE}/s for ${LEAD_S + OUTAGE_S + TAIL_S}s, acq-a silent for ${OUTAGE_S}s, acq-b latency x2; timeout ${TIMEOUT_MS} ms, detector slow limit ${SLOW_MS} ms, recent window ${RECENT_MS} ms`,
  );
  console.log('strategy  requests  approved  approval   lost  outage-requests  outage-lost  lost%-outage');
  for (const [name, t] of rows) {
    console.log(
      `${name.padEnd(8)}  ${String(t.total).padStart(8)}  ${String(t.approved).padStart(8)}  ${(100 * rate(t)).toFixed(2).padStart(7)}%  ${String(t.lost).padStart(5)}  ${String(t.outageTotal).padStart(15)}  ${String(t.outageLost).padStart(11)}  ${((100 * t.outageLost) / Math.max(1, t.outageTotal)).toFixed(2).padStart(11)}%`,
    );
  }
  const e = sides.engine.tally;
  console.log(
    JSON.stringify({
      static_approval: Number(rate(sides.static.tally).toFixed(4)),
      engine_approval: Number(rate(e).toFixed(4)),
      oracle_approval: Number(rate(sides.oracle.tally).toFixed(4)),
      engine_vs_oracle: Number((rate(e) / Math.max(1e-9, rate(sides.oracle.tally))).toFixed(4)),
      engine_lost_pct_outage: Number(((100 * e.outageLost) / Math.max(1, e.outageTotal)).toFixed(2)),
    }),
  );
  for (const s of Object.values(sides)) {
    for (const l of s.links.values()) await l.close().catch(() => undefined);
    for (const sim of s.sims.values()) await sim.close().catch(() => undefined);
  }
  await detector.close();
  breakers.shutdown();
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
