/**
 * Fee schedule (rules/fees.yaml, schema rules/schema/fees.schema.json): per acquirer and terminal a percent
 * (decimal string, ≤ 4 places) and a fixed part in minor units. Integer arithmetic only:
 *   fee = round(amount × percent / 100, rounding) + fixed, capped at the amount.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Ajv } from 'ajv';
import { SwitchError } from '../errors.js';

export type Rounding = 'half-up' | 'half-even' | 'down' | 'up';

export interface FeeRule {
  percent: string;
  fixed: number;
}

export interface FeeScheduleDoc {
  version: 1;
  rounding: Rounding;
  default: FeeRule;
  /** Fee plans by name, for every acquirer (a terminal's `fee_plan`). */
  plans?: Record<string, FeeRule>;
  acquirers?: Record<string, { default?: FeeRule; plans?: Record<string, FeeRule>; terminals?: Record<string, FeeRule> }>;
}

/** What a fee lookup needs of a terminal (terminals.yaml): its id and its fee plan. */
export interface FeeTerminal {
  id: string;
  acquirer: string;
  fee_plan: string;
}

export interface FeeSchedule {
  readonly doc: FeeScheduleDoc;
  /** Fee in minor units for a payment of `amount` minor units. */
  fee(acquirer: string, terminal: string, amount: bigint): bigint;
  /**
   * Fee of a refund of `amount` minor units, signed: above zero the merchant pays a refund fee (merchant → fees),
   * below zero the payment's fee on that amount is given back (fees → merchant). Until fees.yaml says otherwise:
   * the fee reversed, −fee(amount).
   */
  refundFee(acquirer: string, terminal: string, amount: bigint): bigint;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_FEES_FILE = path.join(ROOT, 'rules', 'fees.yaml');
const SCHEMA_FILE = path.join(ROOT, 'rules', 'schema', 'fees.schema.json');

let validator: (((doc: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null }) | undefined;

function validate(doc: unknown, file: string): asserts doc is FeeScheduleDoc {
  if (!validator) {
    const ajv = new Ajv({ allErrors: false, strict: true });
    validator = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as object);
  }
  if (!validator(doc)) {
    const e = validator.errors?.[0];
    throw new SwitchError('SW_ERR_LEDGER_FEES_INVALID', {
      file: path.basename(file),
      path: e?.instancePath || '/',
      reason: e?.message ?? 'invalid',
    });
  }
}

/** "1.25" → 12500 (percent scaled by 10^4). */
function scalePercent(p: string): bigint {
  const [i, f = ''] = p.split('.');
  return BigInt(i ?? '0') * 10_000n + BigInt((f + '0000').slice(0, 4));
}

export function roundDiv(num: bigint, den: bigint, mode: Rounding): bigint {
  // num >= 0, den > 0
  const q = num / den;
  const r = num % den;
  if (r === 0n) return q;
  switch (mode) {
    case 'down':
      return q;
    case 'up':
      return q + 1n;
    case 'half-up':
      return r * 2n >= den ? q + 1n : q;
    case 'half-even':
      return r * 2n > den || (r * 2n === den && q % 2n === 1n) ? q + 1n : q;
  }
}

/**
 * The schedule of `doc`; with `terminals`, each terminal's `fee_plan` picks its plan. Lookup: the terminal's
 * override, its plan as its acquirer prices it, its plan as everyone does, the acquirer's default, the default.
 */
export function feeSchedule(doc: unknown, file = '<inline>', terminals: readonly FeeTerminal[] = []): FeeSchedule {
  validate(doc, file);
  const d = doc;
  const planOf = new Map(terminals.map((t) => [t.id, t.fee_plan]));
  const scaled = new Map<FeeRule, bigint>();
  const pct = (r: FeeRule) => {
    let v = scaled.get(r);
    if (v === undefined) scaled.set(r, (v = scalePercent(r.percent)));
    return v;
  };
  return {
    doc: d,
    fee(acquirer, terminal, amount) {
      if (amount <= 0n) return 0n;
      const a = d.acquirers?.[acquirer];
      const plan = planOf.get(terminal);
      const rule = a?.terminals?.[terminal] ?? (plan !== undefined ? (a?.plans?.[plan] ?? d.plans?.[plan]) : undefined) ?? a?.default ?? d.default;
      const f = roundDiv(amount * pct(rule), 1_000_000n, d.rounding) + BigInt(rule.fixed);
      return f > amount ? amount : f;
    },
    refundFee(acquirer, terminal, amount) {
      return -this.fee(acquirer, terminal, amount);
    },
  };
}

export function loadFeeSchedule(file = DEFAULT_FEES_FILE, terminals: readonly FeeTerminal[] = []): FeeSchedule {
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SwitchError('SW_ERR_LEDGER_FEES_INVALID', {
      file: path.basename(file),
      path: '/',
      reason: e instanceof Error ? e.message.split('\n')[0]!.slice(0, 200) : 'unreadable',
    });
  }
  return feeSchedule(doc, file, terminals);
}

/**
 * What is wrong with a fee schedule against the terminals of its rules: an override naming no terminal of that
 * acquirer (it would charge the acquirer's default without a word), a terminal whose fee_plan nobody prices.
 */
export function feeProblems(doc: FeeScheduleDoc, terminals: readonly FeeTerminal[]): Array<{ path: string; reason: string; terminal?: string }> {
  const out: Array<{ path: string; reason: string; terminal?: string }> = [];
  const of = new Map(terminals.map((x) => [x.id, x.acquirer]));
  for (const [acquirer, a] of Object.entries(doc.acquirers ?? {})) {
    for (const terminal of Object.keys(a.terminals ?? {})) {
      const owner = of.get(terminal);
      if (owner === acquirer) continue;
      out.push({
        path: `/acquirers/${acquirer}/terminals/${terminal}`,
        reason:
          owner === undefined ? `no terminal '${terminal}' in terminals.yaml (use the id the rules route to)` : `terminal '${terminal}' belongs to ${owner}`,
      });
    }
  }
  for (const t of terminals) {
    if (doc.acquirers?.[t.acquirer]?.plans?.[t.fee_plan] !== undefined || doc.plans?.[t.fee_plan] !== undefined) continue;
    out.push({ path: `/plans`, terminal: t.id, reason: `fee plan '${t.fee_plan}' of terminal '${t.id}' is priced neither by ${t.acquirer} nor in plans` });
  }
  return out;
}

/** Refuses a schedule with a problem against the terminals (feeProblems): SW_ERR_LEDGER_FEES_INVALID naming the first. */
export function checkFeeTerminals(schedule: FeeSchedule, terminals: readonly FeeTerminal[], file = 'fees.yaml'): void {
  const p = feeProblems(schedule.doc, terminals)[0];
  if (p) throw new SwitchError('SW_ERR_LEDGER_FEES_INVALID', { file, path: p.path, reason: p.reason });
}

/** No fees at all (tests, generic use). */
export const NO_FEES: FeeSchedule = feeSchedule({ version: 1, rounding: 'half-up', default: { percent: '0', fixed: 0 } });
