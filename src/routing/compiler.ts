/**
 * Rules compiler: RuleSet → CompiledRules, an immutable object of closures and lookup tables, so a decision
 * interprets nothing: each rule is a short array of predicates over pre-computed request facts, and rules
 * are indexed by currency (a request only walks the rules that can match its currency, in file order).
 */
import { BinTable, binKey, binDefToRange } from './bin-table.js';
import {
  COVERAGE_MAX,
  type AuthContext,
  type Authentication,
  type BinInfo,
  type MerchantDef,
  type RiskFile,
  type RuleConditions,
  type RuleSet,
  type TerminalDef,
} from './types.js';

/** Everything the predicates look at, computed once per request. */
export interface Facts {
  amount: number;
  currency: string;
  binKey: number;
  bin: BinInfo | null;
  mcc: string | undefined;
  merchant: string;
  psp: string;
  kind: string;
  /** Minutes since the Unix epoch (UTC). */
  epochMinute: number;
  metadata: Readonly<Record<string, string>> | undefined;
  authentication: Authentication | undefined;
}

export type Predicate = (f: Facts) => boolean;

export interface CompiledTerminal {
  readonly id: string;
  readonly acquirer: string;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly currencies: ReadonlySet<string>;
  readonly mccs: ReadonlySet<string> | null;
  readonly min: number;
  readonly max: number;
  /** Highest RISK_ORDER value the terminal covers. */
  readonly coverageMax: number;
  readonly enabled: boolean;
  /** 32-bit hash of the id, mixed with the card token hash for sticky pins. */
  readonly idHash: number;
  readonly def: TerminalDef;
}

export interface CompiledCandidate {
  readonly terminal: string;
  readonly priority: number;
  readonly weight: number;
}

export type CompiledAction =
  | { readonly kind: 'route'; readonly candidates: readonly CompiledCandidate[]; readonly sticky: boolean }
  | { readonly kind: 'decline'; readonly code: string; readonly reason: string };

export interface CompiledRule {
  readonly id: string;
  readonly index: number;
  /** Every condition of the rule (when ∧ ¬unless). */
  readonly match: Predicate;
  /** The conditions the attribute index does not cover (amount, BIN ranges, time, metadata, unless). */
  readonly residual: Predicate;
  readonly action: CompiledAction;
}

export interface CompiledRules {
  readonly ruleSet: RuleSet;
  readonly version: number | null;
  readonly hash: string;
  readonly bins: BinTable;
  readonly rules: readonly CompiledRule[];
  readonly terminals: ReadonlyMap<string, CompiledTerminal>;
  readonly merchants: ReadonlyMap<string, MerchantDef>;
  readonly noRouteCode: string;
  readonly risk: RiskFile;
  /** The first matching rule (attribute bitsets, then the residual conditions), or null. */
  match(f: Facts): CompiledRule | null;
}

/** FNV-1a, 32 bit. */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A good 32-bit mix (murmur3 finalizer). */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const DAY_INDEX: Record<string, number> = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 };

function parseHm(s: string): number {
  const [h, m] = s.split(':') as [string, string];
  return Number(h) * 60 + Number(m);
}

function parseOffset(s: string | undefined): number {
  if (!s) return 0;
  const sign = s.startsWith('-') ? -1 : 1;
  return sign * parseHm(s.slice(1));
}

function setPred<T>(values: readonly T[], get: (f: Facts) => T | undefined): Predicate {
  if (values.length === 1) {
    const v = values[0];
    return (f) => get(f) === v;
  }
  const s = new Set(values);
  return (f) => {
    const x = get(f);
    return x !== undefined && s.has(x);
  };
}

/**
 * Conditions on a single request attribute compared with a set of values: these are answered by the rule
 * index (one bitset per attribute value) instead of per-rule predicates.
 */
export const INDEXED_ATTRIBUTES = [
  { key: 'currency', get: (f: Facts) => f.currency },
  { key: 'brand', get: (f: Facts) => f.bin?.brand },
  { key: 'card_type', get: (f: Facts) => f.bin?.card_type },
  { key: 'issuer_country', get: (f: Facts) => f.bin?.country },
  { key: 'mcc', get: (f: Facts) => f.mcc },
  { key: 'merchant', get: (f: Facts) => f.merchant },
  { key: 'psp', get: (f: Facts) => f.psp },
  { key: 'kind', get: (f: Facts) => f.kind },
] as const satisfies readonly { key: keyof RuleConditions; get: (f: Facts) => string | undefined }[];

export function compileConditions(c: RuleConditions, residualOnly = false): Predicate[] {
  const preds: Predicate[] = [];
  if (!residualOnly) preds.push(...indexedPredicates(c));
  if (c.amount) {
    const min = c.amount.min ?? 0;
    const max = c.amount.max ?? Number.POSITIVE_INFINITY;
    preds.push((f) => f.amount >= min && f.amount <= max);
  }
  if (c.bin_prefix || c.bin_range) {
    const ranges: [number, number][] = [];
    for (const p of c.bin_prefix ?? []) {
      const r = binDefToRange({ prefix: p, brand: '', card_type: 'credit', country: '' });
      ranges.push([r.lo, r.hi]);
    }
    for (const rr of c.bin_range ?? []) {
      const r = binDefToRange({ range: rr, brand: '', card_type: 'credit', country: '' });
      ranges.push([r.lo, r.hi]);
    }
    const n = ranges.length;
    const lo = Float64Array.from(ranges.map((r) => r[0]));
    const hi = Float64Array.from(ranges.map((r) => r[1]));
    preds.push((f) => {
      const k = f.binKey;
      for (let i = 0; i < n; i++) if (k >= lo[i]! && k <= hi[i]!) return true;
      return false;
    });
  }
  if (c.time) {
    const from = parseHm(c.time.from);
    const to = c.time.to === '24:00' ? 1440 : parseHm(c.time.to);
    const off = parseOffset(c.time.utc_offset);
    let dayMask = 0x7f;
    if (c.time.days) {
      dayMask = 0;
      for (const d of c.time.days) dayMask |= 1 << DAY_INDEX[d]!;
    }
    const wraps = from > to;
    preds.push((f) => {
      const local = f.epochMinute + off;
      const mod = ((local % 1440) + 1440) % 1440;
      // 1970-01-01 was a Thursday (index 3 with Monday = 0).
      const day = (((Math.floor(local / 1440) + 3) % 7) + 7) % 7;
      if (wraps) {
        // The window opens on `day` in the evening and runs into the next morning: the morning part
        // belongs to the previous day's window.
        if (mod >= from) return (dayMask & (1 << day)) !== 0;
        if (mod < to) return (dayMask & (1 << ((day + 6) % 7))) !== 0;
        return false;
      }
      return mod >= from && mod < to && (dayMask & (1 << day)) !== 0;
    });
  }
  // how the payment was authenticated: a request with no authentication read matches none of these
  if (c.three_ds) {
    const s = new Set<string>(c.three_ds);
    preds.push((f) => f.authentication !== undefined && s.has(f.authentication.threeDs));
  }
  if (c.entry_mode) {
    const s = new Set<string>(c.entry_mode);
    preds.push((f) => f.authentication !== undefined && s.has(f.authentication.entryMode));
  }
  if (c.eci) {
    const s = new Set<string>(c.eci);
    preds.push((f) => f.authentication?.eci != null && s.has(f.authentication.eci));
  }
  if (c.metadata) {
    for (const [key, want] of Object.entries(c.metadata)) {
      const values = Array.isArray(want) ? want : [want];
      const s = new Set(values);
      preds.push((f) => {
        const v = f.metadata?.[key];
        return v !== undefined && s.has(v);
      });
    }
  }
  return preds;
}

function indexedPredicates(c: RuleConditions): Predicate[] {
  const preds: Predicate[] = [];
  for (const a of INDEXED_ATTRIBUTES) {
    const values = c[a.key] as readonly string[] | undefined;
    if (values) preds.push(setPred(values, a.get));
  }
  return preds;
}

function all(preds: Predicate[]): Predicate {
  switch (preds.length) {
    case 0:
      return () => true;
    case 1:
      return preds[0]!;
    case 2: {
      const [a, b] = preds as [Predicate, Predicate];
      return (f) => a(f) && b(f);
    }
    case 3: {
      const [a, b, c] = preds as [Predicate, Predicate, Predicate];
      return (f) => a(f) && b(f) && c(f);
    }
    default:
      return (f) => {
        for (let i = 0; i < preds.length; i++) if (!preds[i]!(f)) return false;
        return true;
      };
  }
}

export function compileRuleSet(ruleSet: RuleSet): CompiledRules {
  const files = ruleSet.files;
  const terminals = new Map<string, CompiledTerminal>();
  for (const t of files.terminals.terminals) {
    terminals.set(
      t.id,
      Object.freeze({
        id: t.id,
        acquirer: t.acquirer,
        terminalId: t.terminal_id,
        merchantId: t.merchant_id,
        currencies: new Set(t.currencies),
        mccs: t.mccs ? new Set(t.mccs) : null,
        min: t.limits.min_minor ?? 0,
        max: t.limits.max_minor,
        coverageMax: COVERAGE_MAX[t.risk_coverage],
        enabled: t.enabled !== false,
        idHash: fnv1a(t.id),
        def: t,
      }),
    );
  }
  const merchants = new Map<string, MerchantDef>(files.merchants.merchants.map((m) => [m.id, m]));

  const rules: CompiledRule[] = files.routing.rules.map((r, index) => {
    const combine = (w: Predicate | null, u: Predicate | null): Predicate => (w && u ? (f) => w(f) && !u(f) : w ? w : u ? (f) => !u(f) : () => true);
    const unlessP = r.unless ? all(compileConditions(r.unless)) : null;
    const match = combine(r.when ? all(compileConditions(r.when)) : null, unlessP);
    const whenResidual = r.when ? compileConditions(r.when, true) : [];
    const residual = combine(whenResidual.length > 0 ? all(whenResidual) : null, unlessP);
    const then = r.then;
    const action: CompiledAction =
      'terminals' in then
        ? Object.freeze({
            kind: 'route' as const,
            sticky: then.sticky === true,
            candidates: Object.freeze(then.terminals.map((c) => Object.freeze({ terminal: c.terminal, priority: c.priority, weight: c.weight ?? 1 }))),
          })
        : Object.freeze({ kind: 'decline' as const, code: then.decline, reason: then.reason ?? `rule ${r.id}` });
    return Object.freeze({ id: r.id, index, match, residual, action });
  });

  const index = buildRuleIndex(
    files.routing.rules.map((r) => r.when),
    rules,
  );
  return Object.freeze({
    ruleSet,
    version: ruleSet.version ?? null,
    hash: ruleSet.hash,
    bins: BinTable.fromDefs(files.bins.bins),
    rules: Object.freeze(rules),
    terminals,
    merchants,
    noRouteCode: files.routing.no_route_decline_code ?? '92',
    risk: files.risk,
    match: index,
  });
}

/** Request facts for the predicates. `bin` is looked up once here. */
export function factsOf(c: CompiledRules, ctx: AuthContext): Facts {
  const k = binKey(ctx.bin);
  const merchant = c.merchants.get(ctx.merchantId);
  return {
    amount: typeof ctx.amountMinor === 'bigint' ? Number(ctx.amountMinor) : ctx.amountMinor,
    currency: ctx.currency,
    binKey: k,
    bin: k < 0 ? null : c.bins.lookupKey(k),
    mcc: ctx.mcc ?? merchant?.mcc,
    merchant: ctx.merchantId,
    psp: ctx.psp,
    kind: ctx.kind ?? 'purchase',
    epochMinute: Math.floor(ctx.at.getTime() / 60000),
    metadata: ctx.metadata,
    authentication: ctx.authentication,
  };
}

/** The first rule that matches, or null (cannot happen for a valid set, which ends with a default rule). */
export function matchRule(c: CompiledRules, f: Facts): CompiledRule | null {
  return c.match(f);
}

/** Reference matcher: every rule in order (for tests of the index). */
export function matchRuleLinear(c: CompiledRules, f: Facts): CompiledRule | null {
  for (const r of c.rules) if (r.match(f)) return r;
  return null;
}

/**
 * Rule index: for each indexed attribute, a bitset of the rules compatible with each value (the rules that
 * name the value plus the rules without a condition on that attribute), and one for values no rule names.
 * A request ANDs one bitset per attribute, then walks the set bits in rule order and checks only the
 * residual conditions: the cost hardly grows with the number of rules.
 */
function buildRuleIndex(whens: readonly (RuleConditions | undefined)[], rules: readonly CompiledRule[]): (f: Facts) => CompiledRule | null {
  const n = rules.length;
  const words = (n + 31) >>> 5;
  const attrs = INDEXED_ATTRIBUTES.map((a) => {
    const any = new Uint32Array(words);
    const byValue = new Map<string, Uint32Array>();
    whens.forEach((w, i) => {
      if (!w || !w[a.key]) any[i >>> 5]! |= 1 << (i & 31);
    });
    whens.forEach((w, i) => {
      const values = w?.[a.key] as readonly string[] | undefined;
      if (!values) return;
      for (const v of values) {
        let bs = byValue.get(v);
        if (!bs) {
          bs = Uint32Array.from(any);
          byValue.set(v, bs);
        }
        bs[i >>> 5]! |= 1 << (i & 31);
      }
    });
    // Rules without a condition on the attribute must be set in every value's bitset (already copied from
    // `any` at creation, and `any` is complete before the first copy).
    return { get: a.get, any, byValue };
  });
  const [a0, a1, a2, a3, a4, a5, a6, a7] = attrs as unknown as [
    (typeof attrs)[0],
    (typeof attrs)[0],
    (typeof attrs)[0],
    (typeof attrs)[0],
    (typeof attrs)[0],
    (typeof attrs)[0],
    (typeof attrs)[0],
    (typeof attrs)[0],
  ];
  const pick = (a: typeof a0, v: string | undefined): Uint32Array => (v === undefined ? a.any : (a.byValue.get(v) ?? a.any));
  return (f: Facts): CompiledRule | null => {
    const b0 = pick(a0, f.currency);
    const b1 = pick(a1, f.bin?.brand);
    const b2 = pick(a2, f.bin?.card_type);
    const b3 = pick(a3, f.bin?.country);
    const b4 = pick(a4, f.mcc);
    const b5 = pick(a5, f.merchant);
    const b6 = pick(a6, f.psp);
    const b7 = pick(a7, f.kind);
    for (let w = 0; w < words; w++) {
      let x = b0[w]! & b1[w]! & b2[w]! & b3[w]! & b4[w]! & b5[w]! & b6[w]! & b7[w]!;
      while (x !== 0) {
        const low = x & -x;
        const i = (w << 5) + (31 - Math.clz32(low));
        const r = rules[i]!;
        if (r.residual(f)) return r;
        x ^= low;
      }
    }
    return null;
  };
}
