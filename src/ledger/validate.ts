/**
 * Request validation and the small pure helpers decide() and the API share. Everything a request could get
 * wrong is refused here with SW_ERR_LEDGER_* before it reaches the database.
 */
import crypto from 'node:crypto';
import { SwitchError } from '../errors.js';
import { PAN_KEY_ID_PATTERN, looksLikePan } from './pan.js';
import type { Payment, PlanMeta, Posting } from './types.js';

export const PLAN_ID_RE = /^[\x21-\x7e]{1,128}$/;
/** Account codes: printable ASCII; spaces allowed inside (DE42 merchant ids are space padded), not at either end. */
export const CODE_RE = /^[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?$/;
/** Owners (acquirer, terminal, merchant ids) named in payment account codes: no colon, the code's separator. */
export const OWNER_RE = /^[\x21-\x39\x3b-\x7e](?:[\x20-\x39\x3b-\x7e]{0,62}[\x21-\x39\x3b-\x7e])?$/;
export const MAX_POSTINGS = 64;
export const MAX_AMOUNT = 2n ** 62n;

export const min0 = (d: bigint): bigint => (d < 0n ? d : 0n);
export const max0 = (d: bigint): bigint => (d > 0n ? d : 0n);
export const big = (s: string | null | undefined): bigint | null => (s === null || s === undefined ? null : BigInt(s));

export function bad(planId: string, reason: string): SwitchError {
  return new SwitchError('SW_ERR_LEDGER_BAD_REQUEST', { planId: safeId(planId), reason });
}

export function safeId(planId: unknown): string {
  return typeof planId === 'string' && PLAN_ID_RE.test(planId) ? planId : '<invalid>';
}

export function checkPlanId(planId: unknown): asserts planId is string {
  if (typeof planId !== 'string' || !PLAN_ID_RE.test(planId)) throw bad('<invalid>', 'plan id must be 1..128 printable ASCII characters');
}

export function checkAmount(planId: string, a: unknown, what: string, allowZero = false): asserts a is bigint {
  if (typeof a !== 'bigint' || a < (allowZero ? 0n : 1n) || a > MAX_AMOUNT) {
    throw bad(planId, `${what} must be a bigint ${allowZero ? '>= 0' : '> 0'} in minor units`);
  }
}

export function checkMeta(planId: string, meta: PlanMeta | undefined): void {
  if (meta === undefined) return;
  if (meta.panMasked !== undefined && (typeof meta.panMasked !== 'string' || meta.panMasked.length > 32 || looksLikePan(meta.panMasked))) {
    throw new SwitchError('SW_ERR_LEDGER_PAN_FORBIDDEN', { planId, field: 'panMasked' });
  }
  if (meta.panHash !== undefined && (typeof meta.panHash !== 'string' || !/^[0-9a-f]{16,128}$/.test(meta.panHash))) {
    throw bad(planId, 'panHash must be 16..128 lowercase hex characters');
  }
  if (meta.panKeyId !== undefined && (typeof meta.panKeyId !== 'string' || !new RegExp(PAN_KEY_ID_PATTERN).test(meta.panKeyId) || meta.panHash === undefined)) {
    throw bad(planId, 'panKeyId must be a key id (1..16 letters, digits, _ or -) and comes with a panHash');
  }
}

export function checkPaymentOwners(planId: string, p: Payment): void {
  for (const k of ['acquirer', 'terminal', 'merchant'] as const) {
    if (typeof p[k] !== 'string' || !OWNER_RE.test(p[k])) throw bad(planId, `${k} must be 1..64 printable ASCII characters, no colon, no space at either end`);
  }
}

export function checkDay(planId: string, day: unknown): asserts day is string {
  if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw bad(planId, 'day must be YYYY-MM-DD');
}

/** UTC day (YYYY-MM-DD) of a time: the partition a plan created then lives in. */
export function utcDay(ms: number = Date.now()): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export const isPayment = (s: unknown): s is Payment => typeof s === 'object' && s !== null && !Array.isArray(s);

/** Payload hash for idempotency: callers pass JSON-safe values (bigints as strings). */
export function hashOf(v: unknown): string {
  return '\\x' + crypto.createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 32);
}

/** Postings as a request hash names them (account codes, amount as text, currency): one shape for every op. */
export const postingsForHash = (ps: readonly Posting[]): Array<[string, string, string, number]> => ps.map((p) => [p.from, p.to, String(p.amount), p.currency]);

export const batchRejKey = (r: { planId: string; batchId: number; hash: string }): string => `batch:${r.planId}:${r.batchId}:${r.hash.slice(2)}`;
