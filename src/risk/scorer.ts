/**
 * Risk scoring: trusted < low < high < fatal, from rules/risk.yaml. Signals: blocked BINs and card tokens,
 * amount thresholds per currency, issuer country (BIN) ≠ merchant country, velocity per card token and per
 * merchant over sliding windows. The level is the highest any signal raises (default_level when none; trusted
 * for a trusted merchant with no signal). `score` never throws: if the velocity store fails or the time
 * budget passes, the configured fallback level (default high) applies and the result says so.
 */
import type { CompiledRules } from '../routing/compiler.js';
import { RISK_ORDER, type AuthContext, type RiskFile, type RiskLevel, type RiskResult } from '../routing/types.js';
import { renderError } from '../errors.js';
import { createLogger } from '../log.js';
import { MemoryVelocityStore, type VelocityStore } from './velocity.js';

export interface RiskLogger {
  warn(obj: object, msg: string): void;
}

export interface RiskScorerOptions {
  velocity?: VelocityStore;
  logger?: RiskLogger;
}

interface CompiledRisk {
  defaultLevel: RiskLevel;
  fallbackLevel: RiskLevel;
  timeoutMs: number;
  trusted: ReadonlySet<string>;
  blockedBins: readonly string[];
  blockedTokens: ReadonlySet<string>;
  blockedLevel: RiskLevel;
  thresholds: readonly { currency: string; above: number; level: RiskLevel }[];
  mismatchLevel: RiskLevel | null;
  card: { windows: number[]; rules: { max: number; level: RiskLevel; window: number }[] };
  merchant: { windows: number[]; rules: { max: number; level: RiskLevel; window: number }[] };
  /** Amount rules per key, by currency. */
  cardAmounts: ReadonlyMap<string, AmountRules>;
  merchantAmounts: ReadonlyMap<string, AmountRules>;
}

interface AmountRules {
  windows: number[];
  rules: { max: number; level: RiskLevel; window: number }[];
}

const cache = new WeakMap<RiskFile, CompiledRisk>();

function compileRisk(r: RiskFile): CompiledRisk {
  let c = cache.get(r);
  if (c) return c;
  const vel = (key: 'card' | 'merchant') => {
    const rules = (r.velocity ?? [])
      .filter((v) => v.key === key && v.max_count !== undefined)
      .map((v) => ({ max: v.max_count!, level: v.level, window: v.window_s * 1000 }));
    return { windows: rules.map((x) => x.window), rules };
  };
  const amounts = (key: 'card' | 'merchant'): Map<string, AmountRules> => {
    const out = new Map<string, AmountRules>();
    for (const v of r.velocity ?? []) {
      if (v.key !== key || v.max_amount_minor === undefined || v.currency === undefined) continue;
      let a = out.get(v.currency);
      if (!a) out.set(v.currency, (a = { windows: [], rules: [] }));
      a.rules.push({ max: v.max_amount_minor, level: v.level, window: v.window_s * 1000 });
      a.windows.push(v.window_s * 1000);
    }
    return out;
  };
  c = {
    defaultLevel: r.default_level ?? 'low',
    fallbackLevel: r.fallback_level ?? 'high',
    timeoutMs: r.timeout_ms ?? 50,
    trusted: new Set(r.trusted_merchants ?? []),
    blockedBins: r.blocked?.bins ?? [],
    blockedTokens: new Set(r.blocked?.tokens ?? []),
    blockedLevel: r.blocked?.level ?? 'fatal',
    thresholds: (r.amount_thresholds ?? []).map((x) => ({ currency: x.currency, above: x.above_minor, level: x.level })),
    mismatchLevel: r.country_mismatch?.level ?? null,
    card: vel('card'),
    merchant: vel('merchant'),
    cardAmounts: amounts('card'),
    merchantAmounts: amounts('merchant'),
  };
  cache.set(r, c);
  return c;
}

const max = (a: RiskLevel, b: RiskLevel): RiskLevel => (RISK_ORDER[b] > RISK_ORDER[a] ? b : a);

export class RiskScorer {
  private readonly velocity: VelocityStore;
  private readonly log: RiskLogger;

  constructor(o: RiskScorerOptions = {}) {
    this.velocity = o.velocity ?? new MemoryVelocityStore();
    this.log = o.logger ?? createLogger({ name: 'risk' });
  }

  /** Score with the fallback on any failure or time-out. Never throws. */
  async score(rules: CompiledRules, ctx: AuthContext): Promise<RiskResult> {
    const cr = compileRisk(rules.risk);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${cr.timeoutMs} ms`)), cr.timeoutMs);
      });
      return await Promise.race([this.scoreStrict(rules, ctx), timeout]);
    } catch (e) {
      const reason = e instanceof Error ? e.message : 'error';
      this.log.warn(
        { code: 'SW_ERR_RISK_SCORER_FAILED', level: cr.fallbackLevel },
        renderError('SW_ERR_RISK_SCORER_FAILED', { reason, level: cr.fallbackLevel }),
      );
      return { level: cr.fallbackLevel, reasons: ['scorer_failed'], fallback: true };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Score, letting a velocity-store failure propagate. */
  async scoreStrict(rules: CompiledRules, ctx: AuthContext): Promise<RiskResult> {
    const cr = compileRisk(rules.risk);
    const reasons: string[] = [];
    const st: { level: RiskLevel } = { level: 'trusted' };
    const raise = (l: RiskLevel, why: string): void => {
      st.level = max(st.level, l);
      reasons.push(why);
    };
    if (cr.blockedTokens.has(ctx.cardToken) || ctx.olderCardTokens?.some((x) => cr.blockedTokens.has(x))) raise(cr.blockedLevel, 'blocked_token');
    for (const b of cr.blockedBins) {
      if (ctx.bin.startsWith(b)) {
        raise(cr.blockedLevel, 'blocked_bin');
        break;
      }
    }
    const amount = typeof ctx.amountMinor === 'bigint' ? Number(ctx.amountMinor) : ctx.amountMinor;
    for (const th of cr.thresholds) {
      if ((th.currency === '*' || th.currency === ctx.currency) && amount > th.above)
        raise(th.level, `amount_above_${th.above}_${th.currency === '*' ? 'any' : th.currency}`);
    }
    if (cr.mismatchLevel) {
      const bin = rules.bins.lookup(ctx.bin);
      const merchant = rules.merchants.get(ctx.merchantId);
      if (bin && merchant && bin.country !== merchant.country) raise(cr.mismatchLevel, 'country_mismatch');
    }
    if (st.level !== 'fatal') {
      const at = ctx.at.getTime();
      // the store gets half the scoring budget, so that shared counts too slow to come still leave time to score
      const within = cr.timeoutMs / 2;
      const ca = cr.cardAmounts.get(ctx.currency);
      const ma = cr.merchantAmounts.get(ctx.currency);
      const [card, merch, cardSum, merchSum] = await Promise.all([
        cr.card.rules.length ? this.velocity.hit(`card:${ctx.cardToken}`, cr.card.windows, at, within) : Promise.resolve([]),
        cr.merchant.rules.length ? this.velocity.hit(`merchant:${ctx.merchantId}`, cr.merchant.windows, at, within) : Promise.resolve([]),
        ca ? this.velocity.hitAmount(`card:${ctx.cardToken}:${ctx.currency}`, amount, ca.windows, at, within) : Promise.resolve([]),
        ma ? this.velocity.hitAmount(`merchant:${ctx.merchantId}:${ctx.currency}`, amount, ma.windows, at, within) : Promise.resolve([]),
      ]);
      ca?.rules.forEach((r, i) => {
        if (cardSum[i]! > r.max) raise(r.level, `velocity_card_amount_${r.window / 1000}s`);
      });
      ma?.rules.forEach((r, i) => {
        if (merchSum[i]! > r.max) raise(r.level, `velocity_merchant_amount_${r.window / 1000}s`);
      });
      cr.card.rules.forEach((r, i) => {
        if (card[i]! > r.max) raise(r.level, `velocity_card_${r.window / 1000}s`);
      });
      cr.merchant.rules.forEach((r, i) => {
        if (merch[i]! > r.max) raise(r.level, `velocity_merchant_${r.window / 1000}s`);
      });
    }
    // No signal: the default level (trusted for a trusted merchant); otherwise the highest signal.
    const level = reasons.length === 0 ? (cr.trusted.has(ctx.merchantId) ? 'trusted' : cr.defaultLevel) : st.level;
    return { level, reasons };
  }
}
