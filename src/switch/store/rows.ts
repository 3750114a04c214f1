/**
 * Row shapes of the switch's tables and views (src/switch/migrations): what the flows write and read.
 */
export type TxnKind = 'auth' | 'financial' | 'capture' | 'reversal' | 'refund' | 'balance' | 'incremental';
/** The reason of a capture's claim ('capturing') when it is a partial capture: recovery completes it as one (src/switch/sweeper.ts). */
export const PARTIAL_CLAIM = 'partial capture';
/** Current state of a transaction, derived (view switch_txn): 'sent' until it has an answer. */
export type TxnState = 'sent' | 'approved' | 'declined' | 'timed_out' | 'failed' | 'capturing' | 'captured' | 'reversed' | 'expired' | 'acknowledged';
/** States an outcome row records (every state but 'sent', which is the absence of one, and 'acknowledged', which is inline). */
export type OutcomeState = Exclude<TxnState, 'sent' | 'acknowledged'>;

/** A transaction as the view switch_txn shows it. */
export interface TxnRow {
  id: string;
  kind: TxnKind;
  psp: string;
  mti: string;
  psp_stan: string;
  psp_terminal: string;
  psp_merchant: string;
  psp_dt: string;
  dup_key: string;
  original_id: string | null;
  state: TxnState;
  amount: string | null;
  currency: string | null;
  pan_hash: string | null;
  /** Id of the key that made pan_hash; null: the legacy key (src/ledger/pan.ts storedKeyId). */
  pan_key: string | null;
  pan_masked: string | null;
  merchant: string | null;
  acquirer: string | null;
  terminal: string | null;
  acq_stan: string | null;
  acq_rrn: string | null;
  acq_dt: string | null;
  /** DE41 / DE42 the request was sent to the acquirer with. */
  acq_tid: string | null;
  acq_mid: string | null;
  response_code: string | null;
  auth_code: string | null;
  approved_amount: string | null;
  captured_amount: string | null;
  /** Last outcome step (0: none yet). */
  seq: number;
  rules_version: number | null;
  /** Encoded (src/routing/explanation-codec.ts): decode with decodeExplanation. */
  explanation: string | null;
  created_at: Date;
  updated_at: Date;
  /** Partition day, YYYY-MM-DD. */
  day: string;
}

/** One attempt of a transaction, durable before its request leaves; or a transaction answered without one. */
export interface Intent {
  txnId: string;
  /** 1: the first route (and the duplicate key); 2..: a fail-over after a fast failure. */
  attempt: number;
  day: string;
  kind: TxnKind;
  psp: string;
  mti: string;
  pspStan: string;
  pspTerminal: string;
  pspMerchant: string;
  pspDt: string;
  /** Attempt 1 only (src/switch/keys.ts). */
  dupKey: string | null;
  /** The previous duplicate window's key, for a key led by a window number (src/switch/keys.ts requestKeys). */
  prevKey?: string | null;
  originalId: string | null;
  originalDay: string | null;
  amount: bigint | null;
  currency: string | null;
  panHash: string | null;
  /** Id of the key that made panHash (src/ledger/pan.ts PanKeyRing); absent or null: the legacy key. */
  panKeyId?: string | null;
  panMasked: string | null;
  acquirer: string | null;
  terminal: string | null;
  acqStan: string | null;
  acqRrn: string | null;
  acqDt: string | null;
  acqTid: string | null;
  acqMid: string | null;
  rulesVersion: number | null;
  /** The routing explanation, encoded by src/routing/explanation-codec.ts. */
  explanation: string | null;
  /** Answered without an acquirer round trip: the answer itself. */
  answer?: { state: 'declined' | 'acknowledged' | 'approved'; code: string; authCode?: string | null; reason: string };
}

/** The route part of an intent not routed (yet): what a decline before routing, or a reversal of an unseen original, records. */
export const UNROUTED = {
  acquirer: null,
  terminal: null,
  acqStan: null,
  acqRrn: null,
  acqDt: null,
  acqTid: null,
  acqMid: null,
  rulesVersion: null,
  explanation: null,
} as const satisfies Partial<Intent>;

export type IntentResult = { inserted: true } | { inserted: false; reason: 'duplicate' };

/** A reversal (or advice) owed to an acquirer, without card data: the original named by DE90, DE37, DE41, DE42. */
export interface SafEntry {
  txn_id: string;
  txn_day: string;
  acquirer: string;
  /** A reversal (0400/0420), or a completion advice (0220) the acquirer did not acknowledge online. */
  mti: SafMti;
  fields: Record<string, string>;
  expires_at: Date;
}

export type SafMti = '0400' | '0420' | '0220';

/** A state change of a transaction: step `seq` of its outcome history. */
export interface Outcome {
  txnId: string;
  day: string;
  seq: number;
  state: OutcomeState;
  code?: string | null;
  authCode?: string | null;
  amount?: bigint | null;
  ref?: string | null;
  reason?: string | null;
}

export type NoteEvent = 'late_response' | 'reversal_sent' | 'dead_letter' | 'duplicate' | 'reversal_queued' | 'advice_queued' | 'advice_sent';
