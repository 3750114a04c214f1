/**
 * The read model of transactions, store-and-forward entries and recent traffic: what the admin API and console
 * show (src/admin) and the switch's store answers from its tables (src/switch/store/queries.ts). It sits between
 * the two so that neither imports the other. Every value here is safe to show: masked PANs only, no track data,
 * no CVV.
 */
import type { Explanation } from './routing/types.js';
import type { PastDecision } from './routing/backtest.js';

export interface TransactionFilter {
  rrn?: string;
  stan?: string;
  /** PSP-side terminal id (DE41). */
  terminal?: string;
  /** PSP-side merchant id (DE42). */
  merchant?: string;
  /** Masked PAN, first 6 and last 4 (e.g. 411111******1111). */
  panMasked?: string;
  /** The card's last 4 digits. */
  last4?: string;
  acquirer?: string;
  /** The route's terminal (terminals.yaml id). */
  routedTerminal?: string;
  /** DE39 answered to the PSP. */
  responseCode?: string;
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

/** A message of the transaction as it was exchanged, rebuilt from what was recorded: masked, never a full PAN. */
export interface TransactionMessage {
  /** psp → switch, switch → acquirer, acquirer → switch, switch → psp. */
  leg: 'psp_request' | 'acquirer_request' | 'acquirer_answer' | 'psp_answer';
  mti: string;
  /** Field number → value (DE2 masked). */
  fields: Record<string, string>;
}

export interface TransactionDetail extends TransactionSummary {
  events: TransactionEvent[];
  /** The routing explanation stored with the transaction. */
  explanation: Explanation | null;
  messages: TransactionMessage[];
  /** The card token rules block on (risk.yaml blocked.tokens): from the keyed hash, never the PAN; null without a card. */
  cardToken: string | null;
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
/** Traffic over the last hour (5-minute buckets) or day (hourly), per acquirer, route or rule (docs/admin.md, "Charts"). */
export interface TrafficSeriesQuery {
  by: 'acquirer' | 'terminal' | 'rule';
  window: 'hour' | 'day';
  /** End of the window (default now). */
  now?: Date;
}

export interface TrafficSeries {
  by: TrafficSeriesQuery['by'];
  window: TrafficSeriesQuery['window'];
  bucketSeconds: number;
  /** ISO start of each bucket, oldest first. */
  buckets: string[];
  series: Array<{
    key: string;
    volume: number[];
    /** Approved / answered, null in a bucket without traffic. */
    approvalRate: Array<number | null>;
    /** 95th percentile of the time from request to outcome (ms), null without an outcome. */
    p95Ms: Array<number | null>;
  }>;
}

export interface TrafficQueries {
  recent(limit: number): Promise<PastDecision[]>;
  series?(q: TrafficSeriesQuery): Promise<TrafficSeries>;
}

/** One PSP listener as the admin API and health show it (SwitchHandle.pspStatus(); docs/network.md, "PSP server"). */
export interface PspListenerStatus {
  /** "psp" for the psp group, else its psp.listeners id. */
  id: string;
  host: string;
  port: number;
  dialect: string;
  framer: string;
  tls: boolean;
  /** Client certificates: not asked for, asked for (optional), or required (docs/security.md, "PSP identity"). */
  clientCerts: 'off' | 'requested' | 'required';
  connections: number;
  inFlight: number;
  /** Connections refused after the handshake: no, untrusted or unmapped certificate; a PSP over its share. */
  refused: { noCertificate: number; untrusted: number; unmapped: number; pspConnections: number };
}

/** One PSP's share of the switch and what it uses now, across every listener (psp.perPsp; 0: no cap). */
export interface PspShareStatus {
  psp: string;
  connections: number;
  inFlight: number;
  maxConnections: number;
  maxInFlight: number;
}
