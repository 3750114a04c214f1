/**
 * What the admin API needs from the rest of the switch, as small interfaces. The switch core (src/switch)
 * implements the transaction, SAF and traffic queries; routing, ledger and metrics are used directly.
 * Every value crossing these interfaces is already safe to show: masked PANs only, no track data, no CVV.
 */
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Explanation } from '../routing/types.js';
import type { PastDecision } from '../routing/backtest.js';
import type { RuleVersionStore } from '../routing/versions.js';
import type { Ledger } from '../ledger/ledger.js';

export type Role = 'viewer' | 'risk-editor' | 'operator';
export const ROLES: readonly Role[] = ['viewer', 'risk-editor', 'operator'];

/** One API token from config: the token itself is never stored, only its sha256 (hex). */
export interface TokenEntry {
  /** Who holds it: written to the audit log as the actor. */
  name: string;
  role: Role;
  /** sha256 of the token, 64 hex characters (see hashToken). */
  sha256: string;
}

export interface AcquirerStatus {
  id: string;
  /** Signed-on connections / configured connections. */
  connections: { ready: number; configured: number };
  inFlight: number;
  linkUp: boolean;
  breaker: 'closed' | 'open' | 'half_open' | 'unknown';
  detector: { alive: boolean; score: number; volume: number; reason: string };
  /** The last connection failure, if any (code and reason only). */
  lastError: { code: string | null; reason: string; at: string } | null;
}

export interface AcquirerQueries {
  list(): AcquirerStatus[] | Promise<AcquirerStatus[]>;
}

export interface TransactionFilter {
  rrn?: string;
  stan?: string;
  /** PSP-side terminal id (DE41). */
  terminal?: string;
  /** PSP-side merchant id (DE42). */
  merchant?: string;
  /** Masked PAN, first 6 and last 4 (e.g. 411111******1111). */
  panMasked?: string;
  from?: Date;
  to?: Date;
  /** 1..500, newest first. */
  limit: number;
}

export interface TransactionSummary {
  id: string;
  /** ISO time the request was received. */
  at: string;
  psp: string;
  mti: string;
  stan: string;
  rrn: string | null;
  terminal: string;
  merchant: string;
  panMasked: string;
  amountMinor: string;
  currency: string;
  responseCode: string | null;
  /** approved | declined | error, null while in flight. */
  class: string | null;
  acquirer: string | null;
  routedTerminal: string | null;
  state: string;
}

export interface TransactionEvent {
  at: string;
  /** e.g. received, routed, sent, answered, timeout, reversal_queued, held, replied. */
  type: string;
  detail: Record<string, unknown>;
}

export interface TransactionDetail extends TransactionSummary {
  events: TransactionEvent[];
  /** The routing explanation stored with the transaction. */
  explanation: Explanation | null;
}

export interface TransactionQueries {
  search(filter: TransactionFilter): Promise<TransactionSummary[]>;
  get(id: string): Promise<TransactionDetail | null>;
}

export interface SafEntry {
  id: string;
  txId: string | null;
  acquirer: string;
  /** 0420 / 0421 … */
  mti: string;
  attempts: number;
  state: 'pending' | 'dead';
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
}

export interface SafQueries {
  /** Pending entries, oldest first. */
  list(limit: number): Promise<SafEntry[]>;
  /** Dead letters, oldest first. */
  deadLetters(limit: number): Promise<SafEntry[]>;
  /**
   * Put a dead letter back in the queue for another attempt. Returns the entry after the change, null when
   * no entry has this id; throws SwitchError SW_ERR_ADMIN_CONFLICT when the entry is not a dead letter.
   */
  retry(id: string): Promise<SafEntry | null>;
}

/** Recent authorizations with their outcome: the input of a backtest. */
export interface TrafficQueries {
  recent(limit: number): Promise<PastDecision[]>;
}

export type LedgerQueries = Pick<Ledger, 'balances' | 'plan' | 'reconcile'>;

export interface AdminDeps {
  /** Postgres: audit log and rule versions (their migrations run in buildAdminApp unless migrate is false). */
  pool: pg.Pool;
  tokens: readonly TokenEntry[];
  /** Default: a RuleVersionStore on `pool`. */
  rules?: RuleVersionStore;
  traffic?: TrafficQueries;
  acquirers?: AcquirerQueries;
  ledger?: LedgerQueries;
  transactions?: TransactionQueries;
  saf?: SafQueries;
  /** Default: the switch registry of src/metrics.ts. */
  registry?: Registry;
  /** Extra readiness checks (name → ok); the database and an active rules version are always checked. */
  readiness?: () => Promise<Record<string, boolean>>;
  logger?: Logger;
  /** Require a token for /metrics too (default false: Prometheus scrapes on the loopback). */
  metricsAuth?: boolean;
  migrate?: boolean;
}
