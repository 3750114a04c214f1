/**
 * How a payment was authenticated (docs/routing.md, "Authentication"): the channel from the POS entry mode (DE22)
 * and condition code (DE25), the e-commerce indicator (ECI) the PSP sends, and the 3-D Secure result they mean.
 * Rules match on it, and risk coverage counts it: a 3-D Secure authenticated payment shifts fraud liability to
 * the issuer, an unauthenticated remote one does not.
 */
import type { Authentication, EntryMode, ThreeDsResult } from './types.js';

/** DE22 positions 1-2 (ISO 8583:1987 PAN entry mode) → channel. */
const ENTRY_MODES: Readonly<Record<string, EntryMode>> = {
  '01': 'manual',
  '02': 'magstripe',
  '90': 'magstripe',
  '05': 'chip',
  '95': 'chip',
  '07': 'contactless',
  '91': 'contactless',
  '10': 'credential_on_file',
  '81': 'ecommerce',
};

/** ECI → 3-D Secure result (Visa/Amex 05 06 07, Mastercard 02 01 00). */
const ECI_RESULTS: Readonly<Record<string, ThreeDsResult>> = {
  '05': 'authenticated',
  '02': 'authenticated',
  '06': 'attempted',
  '01': 'attempted',
  '07': 'not_authenticated',
  '00': 'not_authenticated',
};

const CARD_PRESENT: ReadonlySet<EntryMode> = new Set(['chip', 'contactless', 'magstripe']);

/**
 * The authentication of a request from its DE22 (POS entry mode), DE25 (POS condition code: 59 is e-commerce) and
 * ECI (two digits, or undefined when the PSP sent none). A card-present payment without an ECI needs no 3-D
 * Secure (`not_applicable`); a remote one without an ECI, or with one no scheme defines, is `not_authenticated`.
 */
export function authenticationOf(de22: string | undefined, de25: string | undefined, eci: string | undefined): Authentication {
  let entryMode: EntryMode = ENTRY_MODES[(de22 ?? '').slice(0, 2)] ?? 'unknown';
  if (de25 === '59' && !CARD_PRESENT.has(entryMode)) entryMode = 'ecommerce';
  const e = eci !== undefined && /^[0-9]{2}$/.test(eci) ? eci : null;
  const threeDs: ThreeDsResult = e !== null ? (ECI_RESULTS[e] ?? 'not_authenticated') : CARD_PRESENT.has(entryMode) ? 'not_applicable' : 'not_authenticated';
  return { entryMode, eci: e, threeDs };
}

/** True when 3-D Secure shifted the fraud liability to the issuer: authenticated, or an attempt the issuer did not answer. */
export function liabilityShifted(a: Authentication | undefined): boolean {
  return a !== undefined && (a.threeDs === 'authenticated' || a.threeDs === 'attempted');
}

/** True when the payment needed 3-D Secure (remote) and does not have it. */
export function unauthenticatedRemote(a: Authentication | undefined): boolean {
  return a !== undefined && a.threeDs === 'not_authenticated';
}
