/**
 * Logging: pino with redaction paths for card data (docs/architecture.md, "Conventions") and one JSON line per transaction outcome.
 *
 * Redaction is the safety net, not the plan: code logs masked values on purpose (txLogLine, maskMessage), and
 * the paths below catch a card field that slips into a log object anyway. A PAN under a known key is masked
 * 6+4; track data, CVV, PIN block and ICC data are replaced by "[redacted]".
 */
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { maskPan } from './iso8583/mask.js';

/** Keys whose value is a PAN: masked first 6 / last 4. */
const PAN_KEYS = ['pan', 'PAN', 'cardNumber', 'card_number', 'de2', 'DE2', 'primaryAccountNumber'];
/** Keys whose value must never appear at all. */
const SECRET_KEYS = [
  'track1',
  'track2',
  'track3',
  'track',
  'de35',
  'DE35',
  'de36',
  'DE36',
  'de45',
  'DE45',
  'de52',
  'DE52',
  'de55',
  'DE55',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'CVV',
  'pinBlock',
  'pin_block',
  'pin',
  'iccData',
  'icc',
  'authorization',
  'token',
];
/** ISO field numbers used as keys (e.g. a raw field map): 2 is masked, the others removed. */
const SECRET_FIELD_KEYS = ['35', '36', '45', '52', '55'];

function pathsFor(keys: readonly string[]): string[] {
  const out: string[] = [];
  for (const k of keys) {
    const acc = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `.${k}` : `["${k}"]`;
    const top = acc.startsWith('.') ? k : acc;
    out.push(top, `*${acc}`, `*.*${acc}`);
  }
  return out;
}

export const PAN_REDACT_PATHS: readonly string[] = [...pathsFor(PAN_KEYS), 'fields["2"]', '*.fields["2"]', 'message["2"]', '*.message["2"]'];
export const SECRET_REDACT_PATHS: readonly string[] = [
  ...pathsFor(SECRET_KEYS),
  ...SECRET_FIELD_KEYS.flatMap((n) => [`fields["${n}"]`, `*.fields["${n}"]`, `message["${n}"]`, `*.message["${n}"]`]),
  'req.headers.authorization',
  'headers.authorization',
];
export const REDACT_PATHS: readonly string[] = [...PAN_REDACT_PATHS, ...SECRET_REDACT_PATHS];

/** The censor: PAN-like keys masked, everything else removed. */
function censor(value: unknown, path: string[]): unknown {
  const last = path[path.length - 1] ?? '';
  const second = path[path.length - 2];
  const isPan = PAN_KEYS.includes(last) || (last === '2' && (second === 'fields' || second === 'message'));
  if (isPan && typeof value === 'string') return maskPan(value.replace(/\s+/g, ''));
  return '[redacted]';
}

export interface LoggerFactoryOptions {
  name?: string;
  level?: LoggerOptions['level'];
  /** Where lines go (default stdout). Tests pass a stream they can read. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/** A pino logger with the card-data redaction paths and ISO timestamps. */
export function createLogger(o: LoggerFactoryOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: o.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: [...REDACT_PATHS], censor },
    timestamp: pino.stdTimeFunctions.isoTime,
    base: { ...(o.name ? { name: o.name } : {}), ...(o.base ?? {}) },
    formatters: { level: (label) => ({ level: label }) },
  };
  return o.destination ? pino(opts, o.destination) : pino(opts);
}

/** Everything a transaction outcome line holds. `pan` is masked here; pass the full PAN or a masked one. */
export interface TxOutcome {
  txId?: string;
  psp: string;
  mti: string;
  responseMti?: string;
  stan?: string;
  rrn?: string;
  /** PSP-side terminal (DE41) and merchant (DE42). */
  terminal?: string;
  merchant?: string;
  pan?: string;
  amountMinor?: bigint | number | string;
  currency?: string;
  responseCode?: string;
  /** approved | declined | error (see metrics.responseClass). */
  class?: string;
  route?: {
    acquirer: string;
    terminal: string;
    ruleId?: string | null;
    rulesVersion?: number | null;
  } | null;
  risk?: string;
  timings: {
    totalMs: number;
    acquirerMs?: number;
    routingMs?: number;
    ledgerMs?: number;
    /** total − acquirer round trip; computed when absent. */
    switchMs?: number;
  };
  /** SW_ERR_* code when the outcome is an error. */
  errorCode?: string;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** The log object of one transaction outcome: masked PAN, route and timings, no card secrets. */
export function txRecord(o: TxOutcome): Record<string, unknown> {
  const t = o.timings;
  const switchMs = t.switchMs ?? (t.acquirerMs !== undefined ? Math.max(0, t.totalMs - t.acquirerMs) : undefined);
  const rec: Record<string, unknown> = {
    event: 'tx',
    psp: o.psp,
    mti: o.mti,
  };
  if (o.txId !== undefined) rec.txId = o.txId;
  if (o.responseMti !== undefined) rec.responseMti = o.responseMti;
  if (o.stan !== undefined) rec.stan = o.stan;
  if (o.rrn !== undefined) rec.rrn = o.rrn;
  if (o.terminal !== undefined) rec.terminal = o.terminal;
  if (o.merchant !== undefined) rec.merchant = o.merchant;
  if (o.pan !== undefined) rec.panMasked = maskPan(o.pan); // idempotent on an already masked PAN
  if (o.amountMinor !== undefined) rec.amountMinor = String(o.amountMinor);
  if (o.currency !== undefined) rec.currency = o.currency;
  if (o.responseCode !== undefined) rec.responseCode = o.responseCode;
  if (o.class !== undefined) rec.class = o.class;
  rec.route = o.route
    ? { acquirer: o.route.acquirer, terminal: o.route.terminal, ruleId: o.route.ruleId ?? null, rulesVersion: o.route.rulesVersion ?? null }
    : null;
  if (o.risk !== undefined) rec.risk = o.risk;
  const timings: Record<string, number> = { totalMs: round(t.totalMs) };
  if (switchMs !== undefined) timings.switchMs = round(switchMs);
  if (t.acquirerMs !== undefined) timings.acquirerMs = round(t.acquirerMs);
  if (t.routingMs !== undefined) timings.routingMs = round(t.routingMs);
  if (t.ledgerMs !== undefined) timings.ledgerMs = round(t.ledgerMs);
  rec.timings = timings;
  if (o.errorCode !== undefined) rec.errorCode = o.errorCode;
  return rec;
}

/** Write the one JSON line of a transaction outcome (info; warn for errors). */
export function txLogLine(logger: Pick<Logger, 'info' | 'warn'>, o: TxOutcome): void {
  const rec = txRecord(o);
  if (o.errorCode !== undefined || o.class === 'error') logger.warn(rec, 'transaction');
  else logger.info(rec, 'transaction');
}
