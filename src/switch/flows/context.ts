/**
 * What every flow shares: its dependencies, the per-transaction mutex, the in-memory sets that spare the
 * database a round trip (requests timed out), and the small helpers that build rows
 * and answers the same way in every flow.
 */
import type { Logger } from 'pino';
import { IsoMessage, approvalKind } from '../../iso8583/index.js';
import type { CardHashes, Ledger, PanKeyRing } from '../../ledger/index.js';
import type { RoutingEngine } from '../../routing/engine.js';
import type { MerchantDef, TerminalDef } from '../../routing/types.js';
import type { SwitchConfig } from '../config.js';
import type { AcquirerSet } from '../acquirers.js';
import type { TurnoverStore } from '../../risk/turnover.js';
import type { KeyStore } from '../../security/key-store.js';
import { RrnGenerator } from '../ids.js';
import { ExpiringMap } from '../expiring-map.js';
import { KeyedMutex } from '../mutex.js';
import { localDateTime, mtiClass, requestKeys as keysOf } from '../keys.js';
import type { Intent, SafEntry, SwitchStore, TxnKind, TxnRow } from '../store/index.js';
import type { ConfiguredCodes } from '../response-codes.js';
import { adviceFields, pspResponse, type ReversalSubject } from '../translate.js';

export interface FlowDeps {
  config: SwitchConfig;
  /** The PAN hash keys: the current one hashes, every one of them compares (src/switch/pan-key.ts). */
  panKeys: PanKeyRing;
  store: SwitchStore;
  ledger: Ledger;
  engine: RoutingEngine;
  acquirers: AcquirerSet;
  /**
   * The card-security key store (docs/security.md, "PIN translation"): DE52 is re-encrypted from the PSP's PIN key
   * to the acquirer's; absent (no security.keyFile), a request with a PIN block is declined, never passed through.
   */
  keys?: KeyStore;
  /** Merchants by DE42, from the active rule set. */
  merchants: () => ReadonlyMap<string, MerchantDef>;
  /** Turnover limits' counters (docs/routing.md, "Turnover limits"); absent: no limit is counted. */
  turnover?: TurnoverStore;
  /** Terminals by id, from the active rule set (their turnover limits). */
  terminals?: (id: string) => TerminalDef | undefined;
  log: Logger;
  /** Wakes the store-and-forward worker after a reversal is queued. */
  kickSaf: () => void;
  observer?: FlowObserver;
  /** Test-only crash points (docs/faults.md): called at each named point of a flow; off unless a test sets it. */
  faultHook?: (point: FaultPoint, txnId: string) => void | Promise<void>;
}

/** Where a test can stop a flow: the four points of an authorization, and a capture answered before it is recorded. */
export type FaultPoint = 'after-intent' | 'after-send' | 'after-answer' | 'after-outcome' | 'capture-after-send';

/** One answered request, as the observer (metrics, the transaction log line) is told of it. */
export interface FlowOutcome {
  psp: string;
  mti: string;
  responseCode: string;
  acquirer: string | null;
  terminal: string | null;
  rule: string | null;
  /** Rules version that routed it (null when declined before routing). */
  rulesVersion: number | null;
  risk: string | null;
  switchMs: number;
  acquirerMs: number | null;
  panMasked: string | null;
  txnId: string | null;
}

/** Hooks for metrics and the transaction log line. */
export interface FlowObserver {
  outcome(o: FlowOutcome): void;
  lateResponse?(o: { acquirer: string; mti: string; responseCode: string | undefined }): void;
  /** A ledger operation a flow made (a hold in the answer statement, a commit or release in a transaction). */
  ledger?(o: { op: 'hold' | 'commit' | 'rollback' | 'release'; ok: boolean; ms: number }): void;
}

export class FlowContext {
  readonly rrn = new RrnGenerator();
  readonly mutex = new KeyedMutex();
  /**
   * Requests that timed out, by acquirer match key, to name the transaction when a late answer arrives: kept
   * 10 minutes (a later answer is logged without a name), at most 100,000 (docs/faults.md F20).
   */
  readonly timedOut = new ExpiringMap<string, { txnId: string; day: string }>(600_000, 100_000);
  stopping = false;

  constructor(readonly d: FlowDeps) {}

  /** The configurable answer codes (config `responseCodes`; the fixed ones are in src/switch/response-codes.ts). */
  get codes(): ConfiguredCodes {
    return this.d.config.responseCodes;
  }

  /**
   * `merchant.psps` as access control (docs/security.md, "PSP identity"): why `psp`, the identity of the request's
   * connection, may not send traffic for the merchant DE42 names, or null when it may.
   */
  refusedAccess(merchantId: string, psp: string): 'unknown merchant' | 'psp not allowed for merchant' | null {
    const m = this.d.merchants().get(merchantId);
    if (!m) return 'unknown merchant';
    return m.psps.includes(psp) ? null : 'psp not allowed for merchant';
  }

  /** Reports a ledger operation to the observer (metrics), timing `f` as its caller sees it. */
  async timedLedger<T>(op: 'hold' | 'commit' | 'rollback' | 'release', f: () => Promise<T>, ok: (r: T) => boolean = () => true): Promise<T> {
    const t0 = performance.now();
    try {
      const r = await f();
      this.d.observer?.ledger?.({ op, ok: ok(r), ms: performance.now() - t0 });
      return r;
    } catch (e) {
      this.d.observer?.ledger?.({ op, ok: false, ms: performance.now() - t0 });
      throw e;
    }
  }

  /** A crash point: nothing at all unless a test set the hook (then its promise, or nothing). */
  fault(point: FaultPoint, txnId: string): void | Promise<void> {
    return this.d.faultHook?.(point, txnId);
  }

  /** A reversal owed to the acquirer, without card data: the original is named by DE90, DE37, DE41, DE42. */
  reversalEntry(txnId: string, day: string, acquirer: string, mti: '0400' | '0420', subject: ReversalSubject): SafEntry {
    const fields = adviceFields(this.d.acquirers.nextStan(acquirer), subject);
    return { txn_id: txnId, txn_day: day, acquirer, mti, fields, expires_at: new Date(Date.now() + this.d.config.saf.expireAfterMs) };
  }

  /** The subject of a reversal of `row`, as the acquirer got it (the DE41/DE42 stored with the intent). */
  subjectOf(row: Pick<TxnRow, 'mti' | 'acq_stan' | 'acq_dt' | 'acq_rrn' | 'acq_tid' | 'acq_mid' | 'terminal' | 'amount' | 'currency'>): ReversalSubject {
    const ids = this.terminalIds(row);
    return {
      mti: row.mti,
      stan: row.acq_stan ?? '',
      dt: row.acq_dt ?? '',
      rrn: row.acq_rrn ?? '',
      ...ids,
      processingCode: '000000',
      amount: row.amount ?? '0',
      currency: row.currency ?? '',
    };
  }

  /** DE41/DE42 at the acquirer: as the original was sent (stored with its intent); for rows of the first layout, from the rules. */
  terminalIds(row: Pick<TxnRow, 'acq_tid' | 'acq_mid' | 'terminal'>): { terminalId: string; merchantId: string } {
    if (row.acq_tid !== null && row.acq_mid !== null) return { terminalId: row.acq_tid, merchantId: row.acq_mid };
    const t = this.d.engine.current().terminals.get(row.terminal ?? '');
    return { terminalId: t?.terminalId ?? (row.terminal ?? '').padEnd(8).slice(0, 8), merchantId: t?.merchantId ?? ''.padEnd(15) };
  }

  /** The original's answer re-addressed to a duplicate or repeat of it (code, RRN, auth code, a partial approval's amount). */
  replay(msg: IsoMessage, row: Pick<TxnRow, 'state' | 'response_code' | 'acq_rrn' | 'auth_code' | 'approved_amount'>): IsoMessage {
    if (row.response_code === null || row.state === 'sent') return pspResponse(msg, this.codes.duplicate);
    const partial = approvalKind(row.response_code) === 'partial' && row.approved_amount !== null;
    return pspResponse(msg, row.response_code, { rrn: row.acq_rrn, authCode: row.auth_code, amount: partial ? BigInt(row.approved_amount!) : null });
  }

  /**
   * Another request (on another instance, or an earlier life of this one) holds this duplicate key: wait a
   * little for its answer and replay it; a duplicate whose original never got one gets `duplicate` (94), and so
   * does one whose amount or card (by its keyed hash, under the key the original was hashed with) is not the
   * original's: the same key, another payment.
   */
  async duplicate(
    msg: IsoMessage,
    psp: string,
    keys: string | readonly (string | null)[],
    days: readonly string[],
    same: { amount: bigint | null; card: CardHashes | null },
    asOriginal?: { cls: string; stan: string; dt: string; terminal: string; merchant: string },
  ): Promise<IsoMessage> {
    const list = (typeof keys === 'string' ? [keys] : keys).filter((k): k is string => k !== null);
    for (let i = 0; i < 50; i++) {
      // an authorization is also refused by the decline a reversal filed under its DE7, DE11, DE41, DE42
      const row = (await this.d.store.byDupKey(psp, list, days)) ?? (asOriginal ? await this.d.store.original(psp, asOriginal, days) : undefined);
      if (row && !sameRequest(row, same)) return pspResponse(msg, this.codes.duplicate);
      if (row && row.state !== 'sent' && row.state !== 'capturing') return this.replay(msg, row);
      await new Promise((r) => setTimeout(r, 100));
    }
    return pspResponse(msg, this.codes.duplicate);
  }
}

/**
 * A duplicate is the same request only with the same amount and card; a row that recorded neither (a reversal's
 * filed decline) matches any. The card is compared under the key the row was hashed with (docs/security.md, "PAN
 * hash keys"); a row whose key is no longer in the set cannot be compared, and fails safe: not the same card, so
 * the request is answered `duplicate` (94), neither sent again nor given the original's answer.
 */
function sameRequest(row: Pick<TxnRow, 'amount' | 'pan_hash' | 'pan_key'>, same: { amount: bigint | null; card: CardHashes | null }): boolean {
  if (row.amount !== null && same.amount !== null && BigInt(row.amount) !== same.amount) return false;
  return row.pan_hash === null || same.card === null || same.card.matches(row.pan_hash, row.pan_key) === true;
}

export function field(msg: IsoMessage, n: number): string | undefined {
  const v = msg.get(n);
  return typeof v === 'string' ? v : undefined;
}

export function hasAll(msg: IsoMessage, fields: readonly number[]): boolean {
  for (const f of fields) if (field(msg, f) === undefined) return false;
  return true;
}

/** The duplicate keys of a PSP request: its own MTI class, DE11, DE41, DE42, led by DE13+DE12 or the window's number. */
export function requestKeys(msg: IsoMessage, windowMs: number, now = Date.now()): { key: string; prevKey: string | null } {
  return keysOf(
    mtiClass(msg.mti),
    field(msg, 11) ?? '',
    field(msg, 41) ?? '',
    field(msg, 42) ?? '',
    localDateTime(field(msg, 12), field(msg, 13)),
    now,
    windowMs,
  );
}

/** The row of a capture or reversal: a transaction of its own that names its original. */
export function childIntent(
  txnId: string,
  day: string,
  kind: TxnKind,
  msg: IsoMessage,
  psp: string,
  original: TxnRow | undefined,
  amount: bigint | null,
  windowMs: number,
): Intent {
  const { key, prevKey } = requestKeys(msg, windowMs);
  return {
    txnId,
    attempt: 1,
    day,
    kind,
    psp,
    mti: msg.mti,
    pspStan: field(msg, 11)!,
    pspTerminal: field(msg, 41)!,
    pspMerchant: field(msg, 42)!,
    pspDt: field(msg, 7)!,
    dupKey: key,
    prevKey,
    originalId: original?.id ?? null,
    originalDay: original?.day ?? null,
    amount,
    currency: field(msg, 49) ?? original?.currency ?? null,
    panHash: original?.pan_hash ?? null,
    panKeyId: original?.pan_key ?? null,
    panMasked: original?.pan_masked ?? null,
    acquirer: original?.acquirer ?? null,
    terminal: original?.terminal ?? null,
    acqStan: null,
    acqRrn: original?.acq_rrn ?? null,
    acqDt: null,
    acqTid: original?.acq_tid ?? null,
    acqMid: original?.acq_mid ?? null,
    rulesVersion: null,
    explanation: null,
  };
}
