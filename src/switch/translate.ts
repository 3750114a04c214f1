/**
 * Translation between the PSP's message and an acquirer's: fields copied by meaning, the switch's own STAN,
 * RRN, DE7 and the terminal's ids at the acquirer put in, and response codes mapped back.
 */
import { IsoMessage, responseMti } from '../iso8583/index.js';
import { SYSTEM_MALFUNCTION } from './response-codes.js';

/** Fields carried from the PSP's request to the acquirer unchanged. */
const PASS_THROUGH = [2, 3, 4, 12, 13, 14, 18, 22, 23, 25, 26, 35, 43, 45, 49, 52, 54, 55] as const;
/** Fields echoed from a request into the switch's answer to the PSP. */
const ECHO = [2, 3, 4, 7, 11, 12, 13, 32, 41, 42, 49] as const;

export interface AcquirerIds {
  stan: string;
  rrn: string;
  dt: string;
  terminalId: string;
  merchantId: string;
}

export function toAcquirer(req: IsoMessage, ids: AcquirerIds, mti = req.mti): IsoMessage {
  const m = new IsoMessage(mti);
  for (const f of PASS_THROUGH) {
    const v = req.get(f);
    if (v !== undefined) m.set(f, v);
  }
  m.set(7, ids.dt).set(11, ids.stan).set(37, ids.rrn).set(41, ids.terminalId).set(42, ids.merchantId);
  return m;
}

/** The ISO 8583 response code for an acquirer's own code (unmapped codes pass through; no DE39 is a malfunction, 96). */
export function mapResponseCode(map: Readonly<Record<string, string>> | undefined, code: string | undefined): string {
  if (code === undefined) return SYSTEM_MALFUNCTION;
  return map?.[code] ?? code;
}

/**
 * The switch's answer to a PSP request: response MTI, echoed fields, DE39 and the optional extras. `amount` is
 * the amount approved when it is not the one asked (a partial approval, 10): it replaces the echoed DE4.
 */
export function pspResponse(req: IsoMessage, code: string, extra: { rrn?: string | null; authCode?: string | null; amount?: bigint | null } = {}): IsoMessage {
  const m = new IsoMessage(responseMti(req.mti));
  for (const f of ECHO) {
    const v = req.get(f);
    if (v !== undefined) m.set(f, v);
  }
  if (extra.amount !== undefined && extra.amount !== null) m.set(4, extra.amount.toString().padStart(12, '0'));
  const rrn = extra.rrn ?? req.getString(37);
  if (rrn) m.set(37, rrn);
  if (extra.authCode) m.set(38, extra.authCode);
  m.set(39, code);
  return m;
}

/** DE90, original data elements: MTI, STAN, DE7 of the original and two 11-digit institution ids. */
export function originalData(mti: string, stan: string, dt: string): string {
  return `${mti}${stan}${dt}${'0'.repeat(22)}`;
}

export function parseOriginalData(de90: string | undefined): { mti: string; stan: string; dt: string } | null {
  if (!de90 || !/^[0-9]{42}$/.test(de90)) return null;
  return { mti: de90.slice(0, 4), stan: de90.slice(4, 10), dt: de90.slice(10, 20) };
}

/** The original a reversal or a completion names, as the acquirer knows it (its STAN, DE7, RRN and terminal ids). */
export interface ReversalSubject {
  mti: string;
  stan: string;
  dt: string;
  rrn: string;
  terminalId: string;
  merchantId: string;
  processingCode: string;
  amount: string;
  currency: string;
}

/**
 * The fields of a reversal or a completion (0220) to the acquirer, `stan` its own DE11 and `o.amount` its DE4:
 * no card data, the original named by DE90, DE37, DE41, DE42. DE7 is set when it is sent.
 */
export function adviceFields(stan: string, o: ReversalSubject): Record<string, string> {
  return {
    '11': stan,
    '3': o.processingCode,
    '4': o.amount.padStart(12, '0'),
    '37': o.rrn,
    '41': o.terminalId,
    '42': o.merchantId,
    '49': o.currency,
    '90': originalData(o.mti, o.stan, o.dt),
  };
}
