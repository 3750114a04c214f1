/**
 * What the admin API needs from the rest of the switch, as small interfaces. The switch core (src/switch)
 * implements the transaction, SAF and traffic queries of src/read-model.ts, and src/app/admin.ts hands them in;
 * routing, ledger and metrics are used directly. admin/ and switch/ never import each other.
 * Every value crossing these interfaces is already safe to show: masked PANs only, no track data, no CVV.
 */
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { RuleVersionStore } from '../routing/versions.js';
import type { ManualControl, ManualControls } from '../routing/manual-controls.js';
import type { Ledger } from '../ledger/ledger.js';

export type Role = 'viewer' | 'risk-editor' | 'operator' | 'approver';
export const ROLES: readonly Role[] = ['viewer', 'risk-editor', 'operator', 'approver'];

/** One API token from config: the token itself is never stored, only its sha256 (hex). */
export interface TokenEntry {
  /** Who holds it: written to the audit log as the actor. */
  name: string;
  role: Role;
  /** sha256 of the token, 64 hex characters (see hashToken). */
  sha256: string;
  /** ISO time from which it is refused; absent: never. */
  expiresAt?: string;
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
  /** An operator's drain or forced state of the acquirer in force, or null (docs/admin.md, "Manual controls"). */
  control: Pick<ManualControl, 'state' | 'reason' | 'actor' | 'expiresAt'> | null;
}

export type ControlQueries = Pick<ManualControls, 'set' | 'clear' | 'list' | 'history'>;

export interface AcquirerQueries {
  list(): AcquirerStatus[] | Promise<AcquirerStatus[]>;
}

// The read model the admin API shows and the switch store answers lives between them (src/read-model.ts).
export type {
  SafEntry,
  SafQueries,
  TrafficQueries,
  TransactionDetail,
  TransactionEvent,
  TransactionFilter,
  TransactionQueries,
  TransactionSummary,
} from '../read-model.js';
import type { SafQueries, TrafficQueries, TransactionQueries } from '../read-model.js';

export type LedgerQueries = Pick<Ledger, 'balances' | 'plan' | 'reconcile' | 'settlementRuns'>;

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
  controls?: ControlQueries;
  /** Default: the switch registry of src/metrics.ts. */
  registry?: Registry;
  /** Extra readiness checks (name → ok); the database and an active rules version are always checked. */
  readiness?: () => Promise<Record<string, boolean>>;
  logger?: Logger;
  /** Require a token (any role) for /metrics too (default false: Prometheus scrapes on the loopback; admin.metricsAccess). */
  metricsAuth?: boolean;
  /** Require a token (any role) for /docs, the Swagger UI and the OpenAPI document (default false; admin.docsAccess). */
  docsAuth?: boolean;
  migrate?: boolean;
  /** Activations need an approver's approval (docs/admin.md, "Maker-checker"). Default false. */
  makerChecker?: boolean;
  /** Per token, validate / evaluate / backtest requests a minute (default 30). */
  heavyRequestsPerMinute?: number;
}
