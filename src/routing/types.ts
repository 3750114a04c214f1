/**
 * Types of the rule files (rules/*.yaml, checked by rules/schema/*.schema.json) and of routing decisions.
 * A RuleSet is plain data (JSON-serializable) so it can be stored as a version in Postgres and hashed.
 */
import type { FeeScheduleDoc } from '../ledger/fees.js';
import type { TurnoverLimits } from '../risk/turnover.js';

export type Dialect = 'iso87-ascii' | 'iso87-ascii-bbitmap' | 'iso87-binary' | 'iso87-ebcdic' | 'iso93-ascii' | 'iso93-binary';
export type Framer = 'binary2' | 'ascii4' | 'bcd2';
export type RiskLevel = 'trusted' | 'low' | 'high' | 'fatal';
export type RiskCoverage = 'low' | 'high';
export type CardType = 'credit' | 'debit' | 'prepaid' | 'charge';

export const RISK_ORDER: Readonly<Record<RiskLevel, number>> = { trusted: 0, low: 1, high: 2, fatal: 3 };
/** The highest risk level a terminal's coverage accepts: low covers trusted+low, high covers up to high. */
export const COVERAGE_MAX: Readonly<Record<RiskCoverage, number>> = { low: 1, high: 2 };

export interface AcquirerLink {
  host?: string;
  /** 0 or absent: start the built-in simulator (see `simulator`). */
  port?: number;
  dialect: Dialect;
  framer: Framer;
  connections: number;
  /** slow: a call running longer counts as failing for the failure detector (default: response). */
  timeouts_ms: { connect: number; response: number; echo_interval?: number; slow?: number; reconnect_max?: number };
  /** ISO 8583:1993 dialects: action code (3 digits) → 1987 response code, over the standard's map (src/iso8583/iso93.ts). */
  action_codes?: Record<string, string>;
  /** TLS to the acquirer (docs/network.md, "Acquirer link TLS"); absent: plain TCP. */
  tls?: AcquirerLinkTls;
}

/** An acquirer link's TLS: files are PEM paths, read when the switch starts (relative ones from its working directory). */
export interface AcquirerLinkTls {
  /** CA certificates the acquirer's chain must lead to; absent: node's built-in root store. */
  ca?: string;
  /** Client certificate and its key (both or neither), for an acquirer that asks for one. */
  cert?: string;
  key?: string;
  /** Name the certificate must carry, also sent as SNI; default: the host (no SNI when the host is an IP). */
  servername?: string;
  /** "sha256/BASE64" SPKI pin(s): some certificate of the chain must carry one. */
  pin?: string | string[];
  /** Lowest version offered (default TLSv1.2; nothing lower exists here). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface AcquirerSimulator {
  latency_ms: number;
  jitter_ms?: number;
  approve_rate: number;
  /** Response code the simulator answers for declines. */
  decline_code?: string;
  /** Share of requests left unanswered (0..1). */
  timeout_rate?: number;
}

export interface AcquirerDef {
  id: string;
  name?: string;
  link: AcquirerLink;
  /** Acquirer response code → switch (ISO 8583:1987) response code; unmapped codes pass through. */
  response_codes?: Record<string, string>;
  /** Codes (after response_codes) that close a queued reversal or advice; default 00 and 25 (src/iso8583/response-codes.ts). */
  saf_done_codes?: string[];
  simulator?: AcquirerSimulator;
  /** MAC on every message to and from the acquirer (docs/security.md, "MAC"); absent: none. */
  mac?: AcquirerMac;
  /** Working keys the acquirer sends in 0800 DE70 161/162, or in the 0810 to the switch's 161 (docs/security.md, "Key exchange"). */
  key_exchange?: AcquirerKeyExchange;
  /** The acquirer's settlement business day: cut-over time and zone (src/ledger/business-day.ts). */
  settlement?: AcquirerSettlement;
}

export interface AcquirerSettlement {
  /** HH:MM local time at which the business day ends (default 00:00). */
  cutover?: string;
  /** IANA time zone of the cut-over (default UTC). */
  timezone?: string;
  /** The layout of the acquirer's daily settlement file (src/ledger/settlement-file.ts, docs/ledger.md "Settlement files"). */
  file?: SettlementFileLayout;
}

/** Column names of a settlement file: the acquirer's header for each thing the switch reads. */
export interface SettlementColumns {
  /** The acquirer's reference of the transaction: the RRN (DE37) the switch sent it. */
  rrn: string;
  type: string;
  amount: string;
  currency: string;
  /** The business day the row settles on (in `date_format`). */
  date: string;
  fee?: string;
  terminal?: string;
}

export interface SettlementFileLayout {
  /** One character (default ","). */
  delimiter?: string;
  columns: SettlementColumns;
  /** YYYY, MM, DD in any order with separators, e.g. DD.MM.YYYY (default YYYY-MM-DD). */
  date_format?: string;
  /** `minor`: integer minor units; `decimal`: major units with the currency's decimals (default minor). */
  amount_format?: 'minor' | 'decimal';
  /** For `decimal` (default "."). */
  decimal_separator?: string;
  /** The acquirer's word for each row type (defaults: SALE, REFUND, REVERSAL, REFUND_REVERSAL). */
  types?: Partial<Record<SettlementRowType, string>>;
}

export type SettlementRowType = 'sale' | 'refund' | 'reversal' | 'refund_reversal';

export interface AcquirerMac {
  /** MAC key in the key store, zak:… or tak:… (default tak:<acquirer id>). */
  key?: string;
  /** last (default) and 64: DE64, or DE128 on a message with a secondary bitmap; 128: DE128 on every message. */
  field?: 64 | 128 | 'last';
  /** ISO/IEC 9797-1 padding method (default 1). */
  padding?: 1 | 2;
  /** MAC bytes carried, zero-filled to 8 (default 8). */
  length?: 4 | 8;
}

export interface AcquirerKeyExchange {
  /** Field carrying the encrypted key and its check value (default 48). */
  field?: number;
  /** Working key replaced (default: mac.key, else tak:<acquirer id>). */
  key?: string;
  /** Zone master key the working key comes under (default zmk:<acquirer id>). */
  zmk?: string;
  /** DE39 of the 0810 refusing a key (default "30", format error). */
  failure_code?: string;
}

export interface TerminalDef {
  id: string;
  acquirer: string;
  /** DE41 at the acquirer: 8 characters. */
  terminal_id: string;
  /** DE42 at the acquirer: 15 characters. */
  merchant_id: string;
  /** ISO 4217 numeric codes. */
  currencies: string[];
  /** Accepted MCCs; absent = any. */
  mccs?: string[];
  limits: { min_minor?: number; max_minor: number };
  fee_plan: string;
  three_ds: boolean;
  risk_coverage: RiskCoverage;
  enabled?: boolean;
  /** Amount and count per day and month, per currency (docs/routing.md, "Turnover limits"). */
  turnover?: TurnoverLimits;
}

export interface MerchantDef {
  /** Merchant id as sent by PSPs in DE42. */
  id: string;
  name: string;
  mcc: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  psps: string[];
  /** Amount and count per day and month, per currency (docs/routing.md, "Turnover limits"). */
  turnover?: TurnoverLimits;
}

export interface BinDef {
  /** A prefix ("4", "411111") or an inclusive range of equal-length digit strings. */
  prefix?: string;
  range?: [string, string];
  brand: string;
  card_type: CardType;
  issuer?: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
}

export interface TimeWindow {
  /** "HH:MM" inclusive .. "HH:MM" exclusive; from > to wraps over midnight. */
  from: string;
  to: string;
  /** "+02:00" style offset applied to the authorization time; default "+00:00". */
  utc_offset?: string;
  days?: ('mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[];
}

export interface RuleConditions {
  amount?: { min?: number; max?: number };
  currency?: string[];
  brand?: string[];
  bin_prefix?: string[];
  bin_range?: [string, string][];
  issuer_country?: string[];
  card_type?: CardType[];
  mcc?: string[];
  merchant?: string[];
  psp?: string[];
  /** The transaction type from the processing code (DE3); a rule without it matches every type. */
  kind?: TransactionKind[];
  time?: TimeWindow;
  /** How the payment was authenticated (docs/routing.md, "Authentication"). */
  three_ds?: ThreeDsResult[];
  entry_mode?: EntryMode[];
  eci?: string[];
  metadata?: Record<string, string | string[]>;
}

export interface RuleCandidate {
  terminal: string;
  /** 1 is tried first. */
  priority: number;
  /** Share of the lottery within the same priority; 0 = backup only. Default 1. */
  weight?: number;
}

export type RuleAction = { terminals: RuleCandidate[]; sticky?: boolean } | { decline: string; reason?: string };

export interface RoutingRule {
  id: string;
  description?: string;
  default?: boolean;
  when?: RuleConditions;
  /** The rule does not match when every condition given here holds. */
  unless?: RuleConditions;
  then: RuleAction;
}

export interface RoutingFile {
  /** Response code when no candidate survives the terms and health filters. Default "92". */
  no_route_decline_code?: string;
  rules: RoutingRule[];
}

export interface VelocityRule {
  key: 'card' | 'merchant';
  window_s: number;
  /** More authorizations than this in the window raise the level. */
  max_count?: number;
  /** A sum of amounts above this in the window, in `currency` (minor units), raises the level. */
  max_amount_minor?: number;
  /** ISO 4217 numeric: the currency `max_amount_minor` counts (amounts of other currencies are not added up). */
  currency?: string;
  level: RiskLevel;
}

export interface RiskFile {
  /** Level when no signal fires. Default "low". */
  default_level?: RiskLevel;
  /** Level when the scorer fails. Default "high". */
  fallback_level?: RiskLevel;
  /** Response code of a fatal decline. Default "59". */
  fatal_decline_code?: string;
  /** Merchants whose clean traffic is "trusted". */
  trusted_merchants?: string[];
  blocked?: { bins?: string[]; tokens?: string[]; level?: RiskLevel };
  amount_thresholds?: { currency: string; above_minor: number; level: RiskLevel }[];
  country_mismatch?: { level: RiskLevel };
  velocity?: VelocityRule[];
  /** Scorer time budget; past it the fallback level applies. Default 50. */
  timeout_ms?: number;
}

export interface RuleFiles {
  acquirers: { acquirers: AcquirerDef[] };
  terminals: { terminals: TerminalDef[] };
  merchants: { merchants: MerchantDef[] };
  bins: { bins: BinDef[] };
  routing: RoutingFile;
  risk: RiskFile;
  /** The fee schedule (src/ledger/fees.ts); absent in versions stored before it was a rule file. */
  fees?: FeeScheduleDoc;
}

export const RULE_FILE_NAMES = ['acquirers', 'terminals', 'merchants', 'bins', 'routing', 'risk', 'fees'] as const;
export type RuleFileName = (typeof RULE_FILE_NAMES)[number];

/** A validated rule set: plain data plus the sha256 of its canonical JSON. */
export interface RuleSet {
  readonly files: RuleFiles;
  readonly hash: string;
  /** Version number once stored in Postgres; undefined for a set loaded from files. */
  readonly version?: number;
}

/** What a 0100/0200 asks for, from its processing code (docs/switch.md, "Transaction types"). */
export type TransactionKind = 'purchase' | 'cashback' | 'refund' | 'balance';
export const TRANSACTION_KINDS: readonly TransactionKind[] = ['purchase', 'cashback', 'refund', 'balance'];

/** One authorization as routing sees it. No full PAN: the first 6 or 8 digits and a token. */
/** The payment's channel (docs/routing.md, "Authentication"). */
export type EntryMode = 'chip' | 'contactless' | 'magstripe' | 'manual' | 'ecommerce' | 'credential_on_file' | 'unknown';
export const ENTRY_MODE_VALUES: readonly EntryMode[] = ['chip', 'contactless', 'magstripe', 'manual', 'ecommerce', 'credential_on_file', 'unknown'];
/** What 3-D Secure says of a payment: not_applicable for a card present. */
export type ThreeDsResult = 'authenticated' | 'attempted' | 'not_authenticated' | 'not_applicable';
export const THREE_DS_VALUES: readonly ThreeDsResult[] = ['authenticated', 'attempted', 'not_authenticated', 'not_applicable'];

/** How the payment was authenticated (src/routing/authentication.ts). */
export interface Authentication {
  entryMode: EntryMode;
  /** The e-commerce indicator the PSP sent (two digits), or null. */
  eci: string | null;
  threeDs: ThreeDsResult;
}

export interface AuthContext {
  /** First 6..8 digits of the PAN. */
  bin: string;
  /** Stable token of the card (keyed hash, current key), used for velocity and sticky pins. */
  cardToken: string;
  /** The card's tokens under the older PAN hash keys still in the set: blocklists match them too (docs/security.md, "PAN hash keys"). */
  olderCardTokens?: readonly string[];
  amountMinor: bigint | number;
  /** ISO 4217 numeric. */
  currency: string;
  /** Defaults to the merchant's MCC. */
  mcc?: string;
  merchantId: string;
  psp: string;
  at: Date;
  /** From the processing code (DE3); default 'purchase'. */
  kind?: TransactionKind;
  /** From DE22, DE25 and the ECI field (docs/routing.md, "Authentication"); absent: unknown, no 3-D Secure condition matches. */
  authentication?: Authentication;
  metadata?: Record<string, string>;
}

export interface BinInfo {
  brand: string;
  card_type: CardType;
  issuer?: string;
  country: string;
}

export interface RiskResult {
  level: RiskLevel;
  reasons: string[];
  /** True when the scorer failed and the fallback level applied. */
  fallback?: boolean;
}

export interface CandidateExplanation {
  terminal: string;
  acquirer: string;
  priority: number;
  weight: number;
  alive: boolean;
  probe?: boolean;
  /** An operator forced it up (docs/routing.md, "Manual controls"): alive whatever the failure detector says. */
  forcedUp?: boolean;
  /** Its success rate is low: ranked after the other routes of its priority, not removed. */
  lacking?: boolean;
  /** Failure score 0 (healthy) .. 1 (all failing). */
  failureScore: number;
  successRate: number;
  lotteryWinner: boolean;
  pinned: boolean;
}

export interface RejectedCandidate {
  terminal: string;
  /**
   * `dead` appears only in explanations stored before dead routes were ranked last instead of dropped; `drained` and
   * `forced_down` are an operator's manual controls (detail: the target and the reason).
   */
  reason:
    | 'unknown_terminal'
    | 'disabled'
    | 'currency'
    | 'mcc'
    | 'amount_below_min'
    | 'amount_above_max'
    | 'risk_coverage'
    | 'dead'
    | 'breaker_open'
    | 'three_ds'
    | 'turnover_limit'
    | 'drained'
    | 'forced_down';
  detail?: string;
}

export interface Explanation {
  rulesVersion: number | null;
  rulesHash: string;
  ruleId: string | null;
  risk: RiskResult;
  bin: BinInfo | null;
  candidates: CandidateExplanation[];
  rejected: RejectedCandidate[];
  /** The terminal that would have won with perfect health (everything alive, no failures). */
  ideal: string | null;
  /** True when every candidate was dead and they are offered anyway as a last resort. */
  allDead?: boolean;
}

export interface RouteChoice {
  terminal: string;
  acquirer: string;
  /** DE41 / DE42 at the acquirer. */
  terminalId: string;
  merchantId: string;
}

export type Decision =
  { kind: 'route'; routes: RouteChoice[]; explanation: Explanation } | { kind: 'decline'; code: string; reason: string; explanation: Explanation };
