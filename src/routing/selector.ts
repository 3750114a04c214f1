/**
 * Route selection (after RBKmoney hellgate): risk → rule match → terminal terms (currency, MCC, amount
 * limits, risk coverage) → drop dead routes and open breakers → order by the tuple
 * (priority, lottery winner or sticky pin, success rate, failure score, id). The result is the ordered
 * candidate list, so the switch can try the next one when a route fails fast, plus an explanation.
 */
import { factsOf, matchRule, mix32, fnv1a, type CompiledCandidate, type CompiledRules, type CompiledTerminal } from './compiler.js';
import {
  RISK_ORDER,
  type AuthContext,
  type CandidateExplanation,
  type Decision,
  type Explanation,
  type RejectedCandidate,
  type RiskResult,
  type RouteChoice,
} from './types.js';
import type { ControlView } from './manual-controls.js';
import { liabilityShifted, unauthenticatedRemote } from './authentication.js';

/** Live health of services (terminal ids and acquirer ids), e.g. a FailureDetector. */
export interface HealthView {
  isAlive(serviceId: string): boolean;
  /** 0 = healthy .. 1 = failing. */
  failureScore(serviceId: string): number;
  /** For a dead service: true at most once per probe interval, letting one call test it. */
  tryProbe(serviceId: string): boolean;
}

export interface BreakerView {
  isOpen(acquirerId: string): boolean;
}

export interface SuccessRateView {
  /** Mean outcome of the last N calls of the route (1 when unknown). */
  score(terminal: string): number;
  /** True when the elimination factor is below its threshold: no lottery win unless exploring. */
  eliminated(terminal: string): boolean;
  /** True when the route converts too little: ranked after the others of its priority (docs/routing.md). */
  lacking?(terminal: string): boolean;
}

export interface SelectorDeps {
  health?: HealthView;
  breakers?: BreakerView;
  /** Operators' drains and forced states (docs/routing.md, "Manual controls"). */
  controls?: ControlView;
  successRate?: SuccessRateView;
  /** Uniform [0,1) source for the lottery and exploration (default Math.random). */
  random?: () => number;
  /** Share of decisions that ignore success-rate ordering and elimination (default 0.05). */
  explore?: number;
}

export const PERFECT_HEALTH: HealthView = {
  isAlive: () => true,
  failureScore: () => 0,
  tryProbe: () => false,
};

interface Scored {
  t: CompiledTerminal;
  c: CompiledCandidate;
  alive: boolean;
  probe: boolean;
  failureScore: number;
  forcedUp?: boolean;
  lacking?: boolean;
  sr: number;
  eligible: boolean;
  winner: boolean;
}

const U32 = 4294967296;

/** Weighted rendezvous (highest random weight) score of a terminal for a card token hash. */
function pinScore(tokenHash: number, t: CompiledTerminal, weight: number): number {
  const h = (mix32(tokenHash ^ t.idHash) + 0.5) / U32; // (0,1)
  return -weight / Math.log(h);
}

/** Marks the lottery winner of each priority group (eligible, weight > 0). */
function runLottery(list: Scored[], sticky: boolean, tokenHash: number, u: number): void {
  let i = 0;
  while (i < list.length) {
    const p = list[i]!.c.priority;
    let j = i;
    while (j < list.length && list[j]!.c.priority === p) j++;
    if (sticky) {
      let best = -1;
      let bestScore = -1;
      for (let k = i; k < j; k++) {
        const s = list[k]!;
        if (!s.eligible || s.c.weight <= 0) continue;
        const sc = pinScore(tokenHash, s.t, s.c.weight);
        if (sc > bestScore) {
          bestScore = sc;
          best = k;
        }
      }
      if (best >= 0) list[best]!.winner = true;
    } else {
      let total = 0;
      for (let k = i; k < j; k++) if (list[k]!.eligible) total += list[k]!.c.weight;
      if (total > 0) {
        let x = u * total;
        for (let k = i; k < j; k++) {
          const s = list[k]!;
          if (!s.eligible || s.c.weight <= 0) continue;
          x -= s.c.weight;
          if (x < 0) {
            s.winner = true;
            break;
          }
        }
        // Floating point: u*total may equal total exactly; give it to the last eligible.
        if (x >= 0) {
          for (let k = j - 1; k >= i; k--) {
            if (list[k]!.eligible && list[k]!.c.weight > 0) {
              list[k]!.winner = true;
              break;
            }
          }
        }
      }
    }
    i = j;
  }
}

function order(list: Scored[], useSr: boolean): void {
  list.sort((a, b) => {
    if (a.c.priority !== b.c.priority) return a.c.priority - b.c.priority;
    // a lacking route (low conversion) goes after the others of its priority, lottery winner or not
    if (useSr && (a.lacking === true) !== (b.lacking === true)) return a.lacking ? 1 : -1;
    if (a.winner !== b.winner) return a.winner ? -1 : 1;
    if (useSr && a.sr !== b.sr) return b.sr - a.sr;
    if (a.failureScore !== b.failureScore) return a.failureScore - b.failureScore;
    return a.t.id < b.t.id ? -1 : a.t.id > b.t.id ? 1 : 0;
  });
}

function byPriorityThenId(a: Scored, b: Scored): number {
  if (a.c.priority !== b.c.priority) return a.c.priority - b.c.priority;
  return a.t.id < b.t.id ? -1 : a.t.id > b.t.id ? 1 : 0;
}

function byHealthThenPriority(a: Scored, b: Scored): number {
  if (a.failureScore !== b.failureScore) return a.failureScore - b.failureScore;
  return byPriorityThenId(a, b);
}

function explain(s: Scored): CandidateExplanation {
  const e: CandidateExplanation = {
    terminal: s.t.id,
    acquirer: s.t.acquirer,
    priority: s.c.priority,
    weight: s.c.weight,
    alive: s.alive,
    failureScore: s.failureScore,
    successRate: s.sr,
    lotteryWinner: s.winner,
    pinned: false,
  };
  if (s.probe) e.probe = true;
  if (s.forcedUp) e.forcedUp = true;
  if (s.lacking) e.lacking = true;
  return e;
}

function choice(t: CompiledTerminal): RouteChoice {
  return { terminal: t.id, acquirer: t.acquirer, terminalId: t.terminalId, merchantId: t.merchantId };
}

/**
 * Decide one authorization under compiled rules `c` and an already computed risk result. Synchronous and
 * allocation-light: the hot path of the switch.
 */
export function select(c: CompiledRules, ctx: AuthContext, risk: RiskResult, deps: SelectorDeps = {}): Decision {
  const facts = factsOf(c, ctx);
  const explanation: Explanation = {
    rulesVersion: c.version,
    rulesHash: c.hash,
    ruleId: null,
    risk,
    bin: facts.bin,
    candidates: [],
    rejected: [],
    ideal: null,
  };
  if (risk.level === 'fatal') {
    return {
      kind: 'decline',
      code: c.risk.fatal_decline_code ?? '59',
      reason: `risk fatal: ${risk.reasons.join(', ') || 'fatal'}`,
      explanation,
    };
  }
  const rule = matchRule(c, facts);
  if (!rule) return { kind: 'decline', code: c.noRouteCode, reason: 'no rule matched', explanation };
  explanation.ruleId = rule.id;
  const action = rule.action;
  if (action.kind === 'decline') return { kind: 'decline', code: action.code, reason: action.reason, explanation };

  const health = deps.health ?? PERFECT_HEALTH;
  const breakers = deps.breakers;
  const sr = deps.successRate;
  const random = deps.random ?? Math.random;
  const exploring = sr !== undefined && random() < (deps.explore ?? 0.05);
  const riskRank = RISK_ORDER[risk.level];
  const rejected: RejectedCandidate[] = explanation.rejected;

  const passed: Scored[] = [];
  for (const cand of action.candidates) {
    const t = c.terminals.get(cand.terminal);
    if (!t) {
      rejected.push({ terminal: cand.terminal, reason: 'unknown_terminal' });
      continue;
    }
    if (!t.enabled) {
      rejected.push({ terminal: t.id, reason: 'disabled' });
      continue;
    }
    if (!t.currencies.has(facts.currency)) {
      rejected.push({ terminal: t.id, reason: 'currency', detail: facts.currency });
      continue;
    }
    if (t.mccs && (facts.mcc === undefined || !t.mccs.has(facts.mcc))) {
      rejected.push({ terminal: t.id, reason: 'mcc', detail: facts.mcc ?? 'unknown' });
      continue;
    }
    // a balance inquiry moves no money: a terminal's amount limits do not apply to it
    if (facts.amount < t.min && facts.kind !== 'balance') {
      rejected.push({ terminal: t.id, reason: 'amount_below_min', detail: String(t.min) });
      continue;
    }
    if (facts.amount > t.max) {
      rejected.push({ terminal: t.id, reason: 'amount_above_max', detail: String(t.max) });
      continue;
    }
    // 3-D Secure counts (docs/routing.md, "Authentication"): authenticated on a 3-D Secure terminal, the issuer bears
    // the fraud, so a high-risk payment is covered as low; a remote one without it above low risk needs such a terminal
    const shifted = t.def.three_ds && riskRank === RISK_ORDER.high && liabilityShifted(ctx.authentication);
    if ((shifted ? RISK_ORDER.low : riskRank) > t.coverageMax) {
      rejected.push({ terminal: t.id, reason: 'risk_coverage', detail: `${risk.level} > ${t.def.risk_coverage}` });
      continue;
    }
    if (!t.def.three_ds && riskRank > RISK_ORDER.low && unauthenticatedRemote(ctx.authentication)) {
      rejected.push({ terminal: t.id, reason: 'three_ds', detail: `${risk.level} risk, ${ctx.authentication!.entryMode} not authenticated` });
      continue;
    }
    passed.push({
      t,
      c: cand,
      alive: true,
      probe: false,
      failureScore: 0,
      sr: 1,
      eligible: true,
      winner: false,
    });
  }

  const tokenHash = action.sticky ? fnv1a(ctx.cardToken) : 0;
  const u = random();

  // The ideal route: the same lottery or pin over every candidate that passed the terms, perfect health.
  if (passed.length > 0) {
    const ideal = passed.map((s) => ({ ...s }));
    ideal.sort(byPriorityThenId);
    runLottery(ideal, action.sticky, tokenHash, u);
    order(ideal, false);
    explanation.ideal = ideal[0]!.t.id;
  }

  const alive: Scored[] = [];
  const dead: Scored[] = [];
  for (const s of passed) {
    const id = s.t.id;
    const acq = s.t.acquirer;
    // an operator's drain or forced down takes the route out; forced up overrides the failure detector (not the breaker)
    const ctl = deps.controls?.controlOf(id, acq);
    if (ctl && ctl.state !== 'up') {
      rejected.push({ terminal: id, reason: ctl.state === 'drain' ? 'drained' : 'forced_down', detail: `${ctl.targetKind} ${ctl.target}: ${ctl.reason}` });
      continue;
    }
    if (breakers?.isOpen(acq)) {
      rejected.push({ terminal: id, reason: 'breaker_open', detail: acq });
      continue;
    }
    if (ctl) s.forcedUp = true;
    const acqAlive = s.forcedUp === true || health.isAlive(acq);
    const termAlive = s.forcedUp === true || health.isAlive(id);
    s.failureScore = Math.max(health.failureScore(acq), health.failureScore(id));
    if (sr) {
      s.sr = sr.score(id);
      if (!exploring && sr.eliminated(id)) s.eligible = false;
      if (sr.lacking?.(id)) s.lacking = true;
    }
    if (acqAlive && termAlive) {
      alive.push(s);
    } else if ((!acqAlive && health.tryProbe(acq)) || (acqAlive && health.tryProbe(id))) {
      s.probe = true;
      alive.push(s);
    } else {
      s.alive = false;
      dead.push(s);
    }
  }

  let routes: Scored[];
  if (alive.length > 0) {
    routes = alive;
  } else {
    // every candidate is dead (or the detector is wrong): offer them ordered by health
    routes = dead;
    if (dead.length > 0) explanation.allDead = true;
  }
  if (routes.length === 0) {
    return { kind: 'decline', code: c.noRouteCode, reason: 'no candidate terminal passed the terms', explanation };
  }
  routes.sort(byPriorityThenId);
  runLottery(routes, action.sticky, tokenHash, u);
  order(routes, sr !== undefined && !exploring);
  // Dead routes are ranked after every live one, not removed (docs/routing.md, "Failure detector"): the
  // authorization reaches them only when no live route could even be written to (link down, breaker open),
  // where the only other answer is a certain 91.
  if (alive.length > 0 && dead.length > 0) {
    dead.sort(byHealthThenPriority);
    routes = routes.concat(dead);
  }
  const out: RouteChoice[] = new Array<RouteChoice>(routes.length);
  for (let i = 0; i < routes.length; i++) {
    const s = routes[i]!;
    out[i] = choice(s.t);
    const e = explain(s);
    e.pinned = action.sticky && s.winner;
    explanation.candidates.push(e);
  }
  return { kind: 'route', routes: out, explanation };
}
