/**
 * The routing engine as the switch uses it: risk → select, under the rules that are current when the
 * decision starts. The compiled rules are an immutable object swapped atomically (swap / a RulesWatcher),
 * so a decision in flight finishes under the version it started with, and its explanation names that version.
 */
import { RiskScorer } from '../risk/scorer.js';
import { select, type BreakerView, type HealthView, type SuccessRateView } from './selector.js';
import type { CompiledRules } from './compiler.js';
import { TRANSACTION_KINDS, type AuthContext, type Decision } from './types.js';
import { SwitchError } from '../errors.js';
import type { ControlView } from './manual-controls.js';

export interface RoutingEngineOptions {
  /** The compiled rules to start with, or a function returning the current ones (e.g. a watcher's). */
  rules: CompiledRules | (() => CompiledRules);
  scorer?: RiskScorer;
  health?: HealthView;
  breakers?: BreakerView;
  successRate?: SuccessRateView;
  /** Operators' drains and forced states (src/routing/manual-controls.ts). */
  controls?: ControlView;
  random?: () => number;
  explore?: number;
}

export class RoutingEngine {
  private compiled: CompiledRules | undefined;
  private readonly source: (() => CompiledRules) | undefined;
  readonly scorer: RiskScorer;

  constructor(private readonly o: RoutingEngineOptions) {
    if (typeof o.rules === 'function') this.source = o.rules;
    else this.compiled = o.rules;
    this.scorer = o.scorer ?? new RiskScorer();
  }

  /** The rules a decision starting now would use. */
  current(): CompiledRules {
    return this.source ? this.source() : this.compiled!;
  }

  /** Replace the rules (ignored when the engine follows a source function). */
  swap(next: CompiledRules): void {
    this.compiled = next;
  }

  async decide(ctx: AuthContext): Promise<Decision> {
    checkContext(ctx);
    const rules = this.current(); // pinned for the whole decision
    const risk = await this.scorer.score(rules, ctx);
    const deps: Parameters<typeof select>[3] = {};
    if (this.o.health) deps.health = this.o.health;
    if (this.o.breakers) deps.breakers = this.o.breakers;
    if (this.o.successRate) deps.successRate = this.o.successRate;
    if (this.o.controls) deps.controls = this.o.controls;
    if (this.o.random) deps.random = this.o.random;
    if (this.o.explore !== undefined) deps.explore = this.o.explore;
    return select(rules, ctx, risk, deps);
  }
}

const bad = (path: string, reason: string): SwitchError => new SwitchError('SW_ERR_ROUTING_BAD_CONTEXT', { path, reason });

/** Reject malformed contexts with a typed error (never echoing the values: they may be card data). */
export function checkContext(ctx: AuthContext): void {
  if (!ctx || typeof ctx !== 'object') throw bad('/', 'must be an object');
  if (typeof ctx.bin !== 'string' || !/^[0-9]{6,8}$/.test(ctx.bin)) throw bad('/bin', 'must be the first 6 to 8 PAN digits');
  if (typeof ctx.cardToken !== 'string' || ctx.cardToken.length === 0 || ctx.cardToken.length > 128)
    throw bad('/cardToken', 'must be a non-empty token of at most 128 characters');
  if (
    ctx.olderCardTokens !== undefined &&
    (!Array.isArray(ctx.olderCardTokens) || ctx.olderCardTokens.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 128))
  )
    throw bad('/olderCardTokens', 'must be an array of non-empty tokens of at most 128 characters');
  const a = ctx.amountMinor;
  if (!((typeof a === 'bigint' && a >= 0n) || (typeof a === 'number' && Number.isSafeInteger(a) && a >= 0)))
    throw bad('/amountMinor', 'must be a non-negative integer');
  if (typeof ctx.currency !== 'string' || !/^[0-9]{3}$/.test(ctx.currency)) throw bad('/currency', 'must be an ISO 4217 numeric code');
  if (ctx.mcc !== undefined && (typeof ctx.mcc !== 'string' || !/^[0-9]{4}$/.test(ctx.mcc))) throw bad('/mcc', 'must be 4 digits');
  if (typeof ctx.merchantId !== 'string' || ctx.merchantId.length === 0) throw bad('/merchantId', 'must be a non-empty string');
  if (typeof ctx.psp !== 'string' || ctx.psp.length === 0) throw bad('/psp', 'must be a non-empty string');
  if (!(ctx.at instanceof Date) || Number.isNaN(ctx.at.getTime())) throw bad('/at', 'must be a valid date');
  if (ctx.kind !== undefined && !TRANSACTION_KINDS.includes(ctx.kind)) throw bad('/kind', `must be one of ${TRANSACTION_KINDS.join(', ')}`);
  if (ctx.metadata !== undefined) {
    if (!ctx.metadata || typeof ctx.metadata !== 'object') throw bad('/metadata', 'must be an object of strings');
    for (const [k, v] of Object.entries(ctx.metadata)) if (typeof v !== 'string') throw bad(`/metadata/${k}`, 'must be a string');
  }
}
