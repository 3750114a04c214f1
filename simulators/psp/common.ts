import crypto from 'node:crypto';
import type { Codec } from '../../src/iso8583/codec-types.js';
import { IsoMessage } from '../../src/iso8583/message.js';
import { maskMessage } from '../../src/iso8583/mask.js';
import { SwitchError } from '../../src/errors.js';
import { transmissionDateTime } from '../../src/net/mti.js';

export interface AuthFields {
  mti?: string;
  pan?: string;
  /** Major units with optional decimals ("12.34"); written to DE4 in minor units (2 decimals). */
  amount?: string;
  /** ISO 4217 numeric (DE49). */
  currency?: string;
  /** DE42, padded to 15. */
  merchant?: string;
  /** DE41, padded to 8. */
  terminal?: string;
  stan: string;
  /** DE14 YYMM. */
  expiry?: string;
  processingCode?: string;
}

/** Where and how `send` and `load` reach the switch: the flags and defaults they share (npm start's PSP port). */
export const CONNECTION_FLAGS = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8583' },
  dialect: { type: 'string', default: 'iso87-ascii-bbitmap' },
  framer: { type: 'string', default: 'binary2' },
  timeout: { type: 'string', default: '30000' },
  pan: { type: 'string' },
  amount: { type: 'string' },
  currency: { type: 'string' },
  merchant: { type: 'string' },
} as const;

/** The CONNECTION_FLAGS lines of the usage texts of `send` and `load`. */
export const CONNECTION_USAGE = `  --host HOST          switch address (default 127.0.0.1)
  --port PORT          PSP port (default 8583, npm start's)
  --dialect NAME       PSP dialect, specs/ (default iso87-ascii-bbitmap)
  --framer NAME        binary2 (default), ascii4, bcd2, with +tpdu
  --timeout MS         answer timeout per request (default 30000)
  --amount 12.34       DE4 in major units (default 10.00)
  --currency N         DE49, ISO 4217 numeric (default 978)
  --merchant ID        DE42 (default SHOP00000000001, a merchant of rules/merchants.yaml)`;

export const DEFAULTS = {
  pan: '4111111111111111',
  amount: '10.00',
  currency: '978',
  merchant: 'SHOP00000000001', // a merchant of rules/merchants.yaml, so a send to `npm start` is approved
  terminal: 'TERM0001',
  mti: '0100',
};

/**
 * Test cards for load: `411111 nnnnnn 1111` (masked 411111******1111), a new one per call, from `start` on
 * (default: a random point, so runs one after the other do not reuse cards). Never the decline card (…0002)
 * nor the risk-fatal BIN 40001999, and each card is seen once, so the velocity rule (more than 30
 * authorizations per card an hour is fatal, 59: docs/switch.md) does not decline them.
 */
export function testCards(start: number = crypto.randomInt(1_000_000)): () => string {
  let n = start % 1_000_000;
  return () => {
    const pan = `411111${String(n).padStart(6, '0')}1111`;
    n = (n + 1) % 1_000_000;
    return pan;
  };
}

/** "12.34" → "000000001234" (DE4, n12, minor units). */
export function amountToDe4(amount: string): string {
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(amount.trim());
  if (!m) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'amount', reason: 'expected digits with at most 2 decimals, e.g. 12.34' });
  const minor = `${m[1]}${(m[2] ?? '').padEnd(2, '0')}`.replace(/^0+(?=\d)/, '');
  if (minor.length > 12) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'amount', reason: 'too large for DE4' });
  return minor.padStart(12, '0');
}

/** Builds an authorization (or any 0x00 request) from flags. */
export function buildAuthorization(f: AuthFields, now: Date = new Date()): IsoMessage {
  const p = (n: number): string => String(n).padStart(2, '0');
  const pan = f.pan ?? DEFAULTS.pan;
  if (!/^\d{12,19}$/.test(pan)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'pan', reason: 'expected 12 to 19 digits' });
  const mti = f.mti ?? DEFAULTS.mti;
  if (!/^\d{4}$/.test(mti)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'mti', reason: 'expected 4 digits' });
  const currency = f.currency ?? DEFAULTS.currency;
  if (!/^\d{3}$/.test(currency)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'currency', reason: 'expected an ISO 4217 numeric code' });
  const m = new IsoMessage(mti, {
    2: pan,
    3: f.processingCode ?? '000000',
    4: amountToDe4(f.amount ?? DEFAULTS.amount),
    7: transmissionDateTime(now),
    11: f.stan,
    12: p(now.getUTCHours()) + p(now.getUTCMinutes()) + p(now.getUTCSeconds()),
    13: p(now.getUTCMonth() + 1) + p(now.getUTCDate()),
    22: '051',
    25: '00',
    37: `${String(now.getUTCFullYear() % 10)}${String(Math.floor((now.getTime() / 86_400_000) % 1000)).padStart(3, '0')}${p(now.getUTCHours())}${f.stan}`.slice(
      0,
      12,
    ),
    41: (f.terminal ?? DEFAULTS.terminal).padEnd(8, ' ').slice(0, 8),
    42: (f.merchant ?? DEFAULTS.merchant).padEnd(15, ' ').slice(0, 15),
    49: currency,
  });
  if (f.expiry) m.set(14, f.expiry);
  return m;
}

const RESPONSE_CODES: Record<string, string> = {
  '00': 'approved',
  '01': 'refer to card issuer',
  '05': 'do not honour',
  '12': 'invalid transaction',
  '13': 'invalid amount',
  '14': 'invalid card number',
  '30': 'format error',
  '51': 'insufficient funds',
  '54': 'expired card',
  '55': 'incorrect PIN',
  '57': 'transaction not permitted to cardholder',
  '61': 'exceeds withdrawal amount limit',
  '62': 'restricted card',
  '91': 'issuer or switch inoperative',
  '94': 'duplicate transmission',
  '96': 'system malfunction',
};

export function describeResponseCode(rc: string | undefined): string {
  return rc === undefined ? '' : (RESPONSE_CODES[rc] ?? 'unknown');
}

/** A message as readable lines, masked (PAN 6+4, DE35/45/52/55 wiped). */
export function formatMessage(msg: IsoMessage, codec: Codec): string {
  const masked = maskMessage(msg);
  const lines: string[] = [];
  for (const [k, v] of Object.entries(masked)) {
    if (k === 'mti') continue;
    const desc = codec.spec.fields[k]?.description ?? '';
    let text = typeof v === 'string' ? v : JSON.stringify(v);
    if (k === '39') text += ` (${describeResponseCode(typeof v === 'string' ? v : undefined)})`;
    lines.push(`  DE${k.padEnd(4)} ${desc.slice(0, 44).padEnd(44)} ${text}`);
  }
  return lines.join('\n');
}
