/**
 * What a DE39 response code (ISO 8583:1987) means to the switch, decided in this one place for the flows, the
 * store-and-forward queue, the metrics and the console (docs/switch.md, "Response codes"):
 *
 *   00 approved · 08 honour with identification · 11 approved (VIP)  → an approval: the amount asked is held
 *   10 partial approval                                              → an approval of the amount in the answer's DE4
 *   85 no reason to decline (account verification)                   → an approval with nothing held
 *   68 91 92 96 06 30                                                → the switch or the network failed
 *   anything else                                                    → the issuer declined
 */

/** How an approval is held: the amount asked, the amount the answer gives (10), or nothing (85). */
export type ApprovalKind = 'full' | 'partial' | 'verified';

const APPROVALS: ReadonlyMap<string, ApprovalKind> = new Map([
  ['00', 'full'],
  ['08', 'full'],
  ['11', 'full'],
  ['10', 'partial'],
  ['85', 'verified'],
]);

/** Codes that say the switch or the network failed rather than the issuer declining. */
const ERRORS: ReadonlySet<string> = new Set(['68', '91', '92', '96', '06', '30']);

/** The kind of approval a code is, or undefined for anything that is not an approval. */
export function approvalKind(code: string | undefined | null): ApprovalKind | undefined {
  return code ? APPROVALS.get(code) : undefined;
}

export function isApproval(code: string | undefined | null): boolean {
  return approvalKind(code) !== undefined;
}

/** Response class of a DE39 value: what dashboards, the approval-rate alert and the console count. */
export type ResponseClass = 'approved' | 'declined' | 'error';

export function responseClass(code: string | undefined | null): ResponseClass {
  if (code === undefined || code === null || code === '') return 'error';
  if (APPROVALS.has(code)) return 'approved';
  if (ERRORS.has(code)) return 'error';
  return 'declined';
}

/**
 * Answers that close a queued reversal or advice by default: 00, and 25 (the acquirer has no such original, so
 * nothing of it is left to reverse). Anything else (91, 96, 06, …) leaves the entry queued, repeated with back-off.
 */
export const SAF_DONE_CODES: readonly string[] = ['00', '25'];
