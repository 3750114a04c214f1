/**
 * Backtest: past authorizations re-decided under a candidate rule version (perfect health, a seeded lottery),
 * reporting how many routes change, from where to where, and the expected approval-rate effect: an unchanged
 * route keeps its observed outcome; a changed route gets the observed approval rate of its new terminal in
 * the same sample (the overall rate when that terminal has fewer than `minSamples` observations); a new
 * decline counts as not approved. The switch feeds `backtest` from its transaction table (the last N rows);
 * the CLI feeds it from a JSON file.
 */
import { RiskScorer } from '../risk/scorer.js';
import { MemoryVelocityStore } from '../risk/velocity.js';
import { SwitchError } from '../errors.js';
import { select } from './selector.js';
import { checkContext } from './engine.js';
import type { CompiledRules } from './compiler.js';
import { ENTRY_MODE_VALUES, RISK_ORDER, THREE_DS_VALUES, type AuthContext, type RiskLevel } from './types.js';

export type PastOutcome = 'approved' | 'declined' | 'failed';

export interface PastDecision {
  context: AuthContext;
  /** Terminal that handled it, or null when it was declined without routing. */
  routedTo: string | null;
  outcome: PastOutcome;
  /** Risk level recorded at the time; re-scored (static signals + replayed velocity) when absent. */
  riskLevel?: RiskLevel;
}

export interface BacktestResult {
  rulesVersion: number | null;
  rulesHash: string;
  total: number;
  changed: number;
  transitions: { from: string; to: string; count: number }[];
  baselineApprovals: number;
  baselineApprovalRate: number;
  expectedApprovalRate: number;
  approvalRateDelta: number;
  terminals: { terminal: string; observed: number; approvalRate: number | null }[];
}

/** Deterministic uniform [0,1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const DECLINED = '(declined)';

export async function backtest(
  candidate: CompiledRules,
  past: readonly PastDecision[],
  opts: { minSamples?: number; seed?: number } = {},
): Promise<BacktestResult> {
  const minSamples = opts.minSamples ?? 20;
  const random = seededRandom(opts.seed ?? 1);
  const stats = new Map<string, { n: number; ok: number }>();
  let approvals = 0;
  for (const p of past) {
    if (p.outcome === 'approved') approvals++;
    if (p.routedTo) {
      const s = stats.get(p.routedTo) ?? { n: 0, ok: 0 };
      s.n++;
      if (p.outcome === 'approved') s.ok++;
      stats.set(p.routedTo, s);
    }
  }
  const total = past.length;
  const baseRate = total > 0 ? approvals / total : 0;
  const rateOf = (terminal: string): number => {
    const s = stats.get(terminal);
    return s && s.n >= minSamples ? s.ok / s.n : baseRate;
  };

  // Replay in time order so velocity windows see the same history.
  const ordered = [...past].sort((a, b) => a.context.at.getTime() - b.context.at.getTime());
  const scorer = new RiskScorer({ velocity: new MemoryVelocityStore() });
  const transitions = new Map<string, number>();
  let changed = 0;
  let expected = 0;
  for (const p of ordered) {
    let risk: { level: RiskLevel; reasons: string[] };
    if (p.riskLevel) {
      risk = { level: p.riskLevel, reasons: ['recorded'] };
    } else {
      risk = await scorer.scoreStrict(candidate, p.context);
    }
    const d = select(candidate, p.context, risk, { random });
    const to = d.kind === 'route' ? d.routes[0]!.terminal : DECLINED;
    const from = p.routedTo ?? DECLINED;
    if (to === from) {
      expected += p.outcome === 'approved' ? 1 : 0;
    } else {
      changed++;
      const k = `${from}\u0000${to}`;
      transitions.set(k, (transitions.get(k) ?? 0) + 1);
      expected += to === DECLINED ? 0 : rateOf(to);
    }
  }
  const expectedRate = total > 0 ? expected / total : 0;
  return {
    rulesVersion: candidate.version,
    rulesHash: candidate.hash,
    total,
    changed,
    transitions: [...transitions]
      .map(([k, count]) => {
        const [from, to] = k.split('\u0000') as [string, string];
        return { from, to, count };
      })
      .sort((a, b) => b.count - a.count || a.from.localeCompare(b.from) || a.to.localeCompare(b.to)),
    baselineApprovals: approvals,
    baselineApprovalRate: baseRate,
    expectedApprovalRate: expectedRate,
    approvalRateDelta: expectedRate - baseRate,
    terminals: [...stats]
      .map(([terminal, s]) => ({ terminal, observed: s.n, approvalRate: s.n > 0 ? s.ok / s.n : null }))
      .sort((a, b) => a.terminal.localeCompare(b.terminal)),
  };
}

const bad = (path: string, reason: string): SwitchError => new SwitchError('SW_ERR_ROUTING_BAD_CONTEXT', { path, reason });

/** An authorization context from JSON (amount as number or digit string, `at` as ISO time; default now). */
export function contextFromJson(v: unknown, path = ''): AuthContext {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(path || '/', 'must be an object');
  const o = v as Record<string, unknown>;
  const known = new Set(['bin', 'cardToken', 'amountMinor', 'currency', 'mcc', 'merchantId', 'psp', 'at', 'kind', 'authentication', 'metadata']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw bad(`${path}/${k}`, 'unknown key');
  let amount: bigint | number;
  if (typeof o.amountMinor === 'string' && /^[0-9]{1,19}$/.test(o.amountMinor)) {
    const b = BigInt(o.amountMinor);
    amount = b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  } else if (typeof o.amountMinor === 'number') amount = o.amountMinor;
  else throw bad(`${path}/amountMinor`, 'must be an integer or a digit string');
  const at = o.at === undefined ? new Date() : typeof o.at === 'string' ? new Date(o.at) : new Date(NaN);
  if (o.authentication !== undefined) authenticationFromJson(o.authentication, `${path}/authentication`);
  const ctx = { ...o, amountMinor: amount, at } as unknown as AuthContext;
  try {
    checkContext(ctx);
  } catch (e) {
    if (e instanceof SwitchError) throw bad(`${path}${String(e.params.path)}`, String(e.message.split(': ').pop()));
    throw e;
  }
  return ctx;
}

/** Checks `{ entryMode, eci, threeDs }` (docs/routing.md, "Authentication"). */
function authenticationFromJson(v: unknown, path: string): void {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(path, 'must be an object { entryMode, eci, threeDs }');
  const a = v as Record<string, unknown>;
  for (const k of Object.keys(a)) if (!['entryMode', 'eci', 'threeDs'].includes(k)) throw bad(`${path}/${k}`, 'unknown key');
  if (!(ENTRY_MODE_VALUES as readonly unknown[]).includes(a.entryMode)) throw bad(`${path}/entryMode`, `must be one of ${ENTRY_MODE_VALUES.join(', ')}`);
  if (!(THREE_DS_VALUES as readonly unknown[]).includes(a.threeDs)) throw bad(`${path}/threeDs`, `must be one of ${THREE_DS_VALUES.join(', ')}`);
  if (a.eci !== null && (typeof a.eci !== 'string' || !/^[0-9]{2}$/.test(a.eci))) throw bad(`${path}/eci`, 'must be two digits or null');
}

/** A past decision from JSON: { context, routedTo, outcome, riskLevel? }. */
export function pastDecisionFromJson(v: unknown, path = ''): PastDecision {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(path || '/', 'must be an object');
  const o = v as Record<string, unknown>;
  const context = contextFromJson(o.context, `${path}/context`);
  if (o.routedTo !== null && typeof o.routedTo !== 'string') throw bad(`${path}/routedTo`, 'must be a terminal id or null');
  if (o.outcome !== 'approved' && o.outcome !== 'declined' && o.outcome !== 'failed') throw bad(`${path}/outcome`, 'must be approved, declined or failed');
  const p: PastDecision = { context, routedTo: o.routedTo, outcome: o.outcome };
  if (o.riskLevel !== undefined) {
    if (typeof o.riskLevel !== 'string' || !(o.riskLevel in RISK_ORDER)) throw bad(`${path}/riskLevel`, 'must be trusted, low, high or fatal');
    p.riskLevel = o.riskLevel as RiskLevel;
  }
  return p;
}
